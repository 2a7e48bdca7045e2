//! The accounts binary: the service skeleton around [`numhub_accounts::Accounts`].

fn main() -> std::process::ExitCode {
    numhub_skeleton::main::<numhub_accounts::Accounts>()
}
