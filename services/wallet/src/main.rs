//! The wallet binary: the service skeleton around [`numhub_wallet::Wallet`].

fn main() -> std::process::ExitCode {
    numhub_skeleton::main::<numhub_wallet::Wallet>()
}
