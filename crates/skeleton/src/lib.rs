//! The skeleton every numhub service fills in.
//!
//! A service writes its domain and one [`Service`] impl: its settings, how
//! it is built from a [`Context`] (its database, clock, credentials,
//! workers and channels to the services it calls), its routes, and what it
//! does when the process stops. It gets for free: the command line and
//! `NUMHUB_*` variables, telemetry, its own database opened and migrated,
//! the auth layer, health, reflection, metrics, deadlines on every call
//! between services, supervised workers, and a shutdown that drains the
//! server, then stops the workers, then closes the database.
//!
//! A service's binary is [`main`]; numhubd adds every service to one
//! [`Host`], which is all [`main`] does for one.

pub mod config;
pub mod grpc;
pub mod host;
pub mod peers;
pub mod service;
pub mod storage;

use std::process::ExitCode;

pub use crate::config::{Binary, Command, Common};
pub use crate::grpc::GrpcServices;
pub use crate::host::{Host, Layout, Running};
pub use crate::peers::{Peer, PeerAddrs};
pub use crate::service::{Context, Service};

/// The whole `main` of a service's binary: parse the command line, start
/// telemetry, then serve `S` until SIGTERM or SIGINT (or migrate, or print
/// a new API key).
pub fn main<S: Service>() -> ExitCode {
    let binary: Binary<S::Settings> =
        numhub_runtime::config::parse_with(Binary::<S::Settings>::command_of::<S>());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("{}: cannot start the async runtime: {error}", S::BINARY);
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(numhub_runtime::binary::run(
        S::BINARY,
        &binary.common.telemetry.clone(),
        run::<S>(binary),
    ))
}

async fn run<S: Service>(binary: Binary<S::Settings>) -> anyhow::Result<()> {
    match binary.command.unwrap_or(Command::Serve) {
        Command::GenerateKey => {
            let key = numhub_auth::api_key::generate(binary.common.auth.api_key_environment);
            println!("{}", key.secret);
            Ok(())
        }
        Command::Migrate if S::MIGRATIONS.is_none() => {
            tracing::info!("{} keeps no data: nothing to migrate", S::BINARY);
            Ok(())
        }
        Command::Migrate => {
            let (db, _) =
                storage::open(&binary.common.database, storage::Storage::Own, &S::DEFAULTS).await?;
            S::migrate(&db, &binary.settings).await?;
            db.close().await;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Serve => {
            let mut host =
                Host::bind(&binary.common, S::DEFAULTS, Layout::Alone(binary.peers)).await?;
            host.add::<S>(&binary.settings).await?;
            let running = host.serve().await?;
            numhub_runtime::server::shutdown_signal().await;
            running.shutdown().await
        }
    }
}
