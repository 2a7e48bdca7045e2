//! `numhub`, numhub's command-line client.
//!
//! Every command calls numhub's public gRPC services (wallet, catalog,
//! orders, rentals, accounts) with the customer's API key, and prints its
//! result for people (aligned columns, money as "USD 0.45") or, with
//! `--json`, one JSON object per line for scripts. A failure is one line
//! on standard error and a non-zero exit code.
//!
//! The binary is a thin `main` around [`run`], which takes the arguments
//! and a [`Console`] to write to, so tests drive the real commands in
//! process.

mod cli;
mod client;
mod commands;
mod error;
mod output;
mod stream;

use std::ffi::OsString;
use std::io::Write;

use clap::Parser as _;

pub use cli::{Cli, DEFAULT_ADDR};

/// Where a command writes: its results to `out`, errors, notes and the
/// spinner to `err`. The spinner is drawn only when `err_is_terminal`.
pub struct Console<'a> {
    pub out: &'a mut (dyn Write + Send),
    pub err: &'a mut (dyn Write + Send),
    pub err_is_terminal: bool,
}

impl Console<'_> {
    /// Writes a result, and flushes it, so a reader of a pipe sees each
    /// line (each stream event) as it happens.
    fn print(&mut self, text: &str) -> std::io::Result<()> {
        self.out.write_all(text.as_bytes())?;
        self.out.flush()
    }

    /// Writes one JSON object on a line of its own.
    fn json(&mut self, value: &serde_json::Value) -> std::io::Result<()> {
        let mut line = value.to_string();
        line.push('\n');
        self.print(&line)
    }

    /// A line for the person at the terminal, on standard error.
    fn note(&mut self, text: &str) -> std::io::Result<()> {
        writeln!(self.err, "{text}")?;
        self.err.flush()
    }
}

/// Runs the command line `args` (the program's name first) and returns the
/// process's exit code: 0 on success, 2 for a usage error, 1 otherwise.
pub async fn run<I, T>(args: I, console: &mut Console<'_>) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(error) => {
            let text = error.render().to_string();
            let written = if error.use_stderr() {
                console.err.write_all(text.as_bytes())
            } else {
                console.out.write_all(text.as_bytes())
            };
            let _ = written.and_then(|()| console.out.flush());
            let _ = console.err.flush();
            return u8::try_from(error.exit_code()).unwrap_or(2);
        }
    };
    let addr = client::url(&cli.global.addr);
    match commands::execute(cli, &addr, console).await {
        Ok(()) => 0,
        Err(failure) => {
            if let Some(line) = failure.line(&addr) {
                let _ = writeln!(console.err, "numhub: {line}");
                let _ = console.err.flush();
            }
            failure.exit_code()
        }
    }
}
