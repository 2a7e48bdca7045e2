//! numhubd: every numhub service in one process, on one port, each on its
//! own SQLite file under the data directory (see the library for what it
//! starts).

use numhub_runtime::config;
use numhubd::Config;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let config: Config = config::parse();
    let telemetry = config.telemetry.clone();
    numhub_runtime::binary::run("numhubd", &telemetry, numhubd::run(config)).await
}
