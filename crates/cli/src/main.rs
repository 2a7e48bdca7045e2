//! `numhub`: numhub's command-line client (see the library for the commands).

use std::io::IsTerminal as _;
use std::process::ExitCode;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let mut out = std::io::stdout();
    let mut err = std::io::stderr();
    let err_is_terminal = err.is_terminal();
    let mut console = numhub_cli::Console {
        out: &mut out,
        err: &mut err,
        err_is_terminal,
    };
    ExitCode::from(numhub_cli::run(std::env::args_os(), &mut console).await)
}
