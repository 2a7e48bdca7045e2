//! The inbound binary: the service skeleton around [`numhub_inbound::Inbound`].

fn main() -> std::process::ExitCode {
    numhub_skeleton::main::<numhub_inbound::Inbound>()
}
