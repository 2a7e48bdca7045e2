//! The orders binary: the service skeleton around [`numhub_orders::Orders`].

fn main() -> std::process::ExitCode {
    numhub_skeleton::main::<numhub_orders::Orders>()
}
