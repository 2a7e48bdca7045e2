//! The catalog binary: the service skeleton around [`numhub_catalog::Catalog`].

fn main() -> std::process::ExitCode {
    numhub_skeleton::main::<numhub_catalog::Catalog>()
}
