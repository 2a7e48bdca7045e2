//! The gateway binary: the service skeleton around [`numhub_gateway::Gateway`].

fn main() -> std::process::ExitCode {
    numhub_skeleton::main::<numhub_gateway::Gateway>()
}
