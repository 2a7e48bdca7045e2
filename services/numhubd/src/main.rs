//! numhubd: every numhub service in one process, on one port, each with
//! its own storage (see the library for what it starts).

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let config: numhubd::Config = numhub_runtime::config::parse();
    let telemetry = config.common.telemetry.clone();
    numhub_runtime::binary::run("numhubd", &telemetry, numhubd::run(config)).await
}
