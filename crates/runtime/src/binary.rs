//! What every numhub binary's `main` does around its own work: telemetry
//! up first, the work, its failure logged with the whole cause chain,
//! telemetry flushed, and an exit code.

use std::future::Future;
use std::process::ExitCode;

use crate::telemetry::{self, TelemetryConfig};

/// Runs `work` with telemetry set up for `name`. Exit code 2 when
/// telemetry cannot start, 1 when the work fails.
pub async fn run(
    name: &'static str,
    telemetry_config: &TelemetryConfig,
    work: impl Future<Output = anyhow::Result<()>>,
) -> ExitCode {
    let telemetry = match telemetry::init(name, telemetry_config) {
        Ok(guard) => guard,
        Err(error) => {
            eprintln!("{name}: {error:#}");
            return ExitCode::from(2);
        }
    };
    let result = work.await;
    if let Err(error) = &result {
        tracing::error!(error = format!("{error:#}"), "{name} failed");
    }
    telemetry.shutdown();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}
