//! The settings every numhub process has, and a service binary's command
//! line: those, where its peers are, and the service's own.

use numhub_auth::AuthConfig;
use numhub_runtime::config::{CallConfig, DatabaseConfig, ServerConfig};
use numhub_runtime::telemetry::TelemetryConfig;

use crate::peers::{Peer, PeerAddrs};
use crate::service::Service;

/// What every numhub process is told: where it listens, its database, its
/// telemetry, its credentials and how it calls other services.
#[derive(Debug, Clone, clap::Args)]
pub struct Common {
    #[command(flatten)]
    pub server: ServerConfig,
    #[command(flatten)]
    pub database: DatabaseConfig,
    #[command(flatten)]
    pub telemetry: TelemetryConfig,
    #[command(flatten)]
    pub auth: AuthConfig,
    #[command(flatten)]
    pub calls: CallConfig,
}

/// A service binary's command line.
#[derive(Debug, clap::Parser)]
pub struct Binary<S: clap::Args> {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub peers: PeerAddrs,
    #[command(flatten)]
    pub settings: S,
}

/// What a service binary does.
#[derive(Debug, Clone, Copy, clap::Subcommand)]
pub enum Command {
    /// Serve gRPC (the default).
    Serve,
    /// Apply the database migrations and exit.
    Migrate,
    /// Print a new API key of the configured environment (for
    /// NUMHUB_ADMIN_KEY) and exit.
    GenerateKey,
}

impl<S: clap::Args> Binary<S> {
    /// The command line of `T`'s binary: its name and description, the
    /// address settings of the services it calls (the others hidden), and
    /// the call settings only if it calls any, the database settings only if
    /// it keeps data.
    pub fn command_of<T: Service<Settings = S>>() -> clap::Command {
        let mut command = <Self as clap::CommandFactory>::command()
            .name(T::BINARY)
            .bin_name(T::BINARY)
            .version(env!("CARGO_PKG_VERSION"))
            .about(T::ABOUT);
        for peer in Peer::ALL {
            if !T::CALLS.contains(&peer) {
                command = command.mut_arg(peer.arg_id(), |arg| arg.hide(true));
            }
        }
        if T::MIGRATIONS.is_none() {
            for id in ["database_url", "data_dir", "db_max_connections"] {
                command = command.mut_arg(id, |arg| arg.hide(true));
            }
        }
        if T::CALLS.is_empty() {
            command = command
                .mut_arg("connect_timeout", |arg| arg.hide(true))
                .mut_arg("call_timeout", |arg| arg.hide(true));
        }
        command
    }

    /// `T`'s command line as its binary reads it from `args` (the flags
    /// after the binary's name) and the `NUMHUB_*` variables, or clap's
    /// error: how a test reads a service's settings, defaults included.
    pub fn parse_args<T: Service<Settings = S>>(args: &[&str]) -> Result<Self, clap::Error> {
        let args = std::iter::once(T::BINARY).chain(args.iter().copied());
        let mut matches = Self::command_of::<T>().try_get_matches_from(args)?;
        <Self as clap::FromArgMatches>::from_arg_matches_mut(&mut matches)
    }
}
