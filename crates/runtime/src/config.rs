//! Configuration shared by every service, from flags or `NUMHUB_*` environment
//! variables, with defaults that run on one box.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// What a service's defaults are: its name and its ports.
#[derive(Debug, Clone, Copy)]
pub struct ServiceDefaults {
    /// Short name, e.g. "wallet": the SQLite file name and the log target.
    pub name: &'static str,
    pub grpc_port: u16,
    pub metrics_port: u16,
}

impl ServiceDefaults {
    pub const fn new(name: &'static str, grpc_port: u16, metrics_port: u16) -> Self {
        Self {
            name,
            grpc_port,
            metrics_port,
        }
    }
}

/// Where and how the gRPC server listens.
#[derive(Debug, Clone, clap::Args)]
pub struct ServerConfig {
    /// gRPC listen address (health and reflection included); port 0 picks a
    /// free port. Default: 127.0.0.1 and the service's own port.
    #[arg(long, env = "NUMHUB_LISTEN_ADDR", value_name = "ADDR")]
    pub listen_addr: Option<SocketAddr>,

    /// Prometheus metrics over HTTP at /metrics, or "off". Default: 127.0.0.1
    /// and the service's own metrics port.
    #[arg(long, env = "NUMHUB_METRICS_ADDR", value_name = "ADDR|off")]
    pub metrics_addr: Option<MetricsAddr>,

    /// How long in-flight RPCs may drain after SIGTERM before the process
    /// stops anyway.
    #[arg(long, env = "NUMHUB_SHUTDOWN_GRACE", default_value = "4s", value_parser = humantime::parse_duration)]
    pub shutdown_grace: Duration,
}

impl ServerConfig {
    pub fn listen_addr(&self, defaults: &ServiceDefaults) -> SocketAddr {
        self.listen_addr
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], defaults.grpc_port)))
    }

    pub fn metrics_addr(&self, defaults: &ServiceDefaults) -> Option<SocketAddr> {
        match self.metrics_addr {
            Some(MetricsAddr::Off) => None,
            Some(MetricsAddr::At(addr)) => Some(addr),
            None => Some(SocketAddr::from(([127, 0, 0, 1], defaults.metrics_port))),
        }
    }
}

/// How a service calls another: the settings of the channels the `channel`
/// module builds.
#[derive(Debug, Clone, clap::Args)]
pub struct CallConfig {
    /// How long connecting to another service may take before the call
    /// fails with UNAVAILABLE.
    #[arg(long, env = "NUMHUB_CONNECT_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub connect_timeout: Duration,

    /// How long a call to another service may take before it fails with
    /// DEADLINE_EXCEEDED; a request's own shorter deadline (grpc-timeout)
    /// is passed on instead. Streams are bounded only while opening.
    #[arg(long, env = "NUMHUB_CALL_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub call_timeout: Duration,
}

impl Default for CallConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            call_timeout: Duration::from_secs(10),
        }
    }
}

/// `off`, or an address to serve metrics on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsAddr {
    Off,
    At(SocketAddr),
}

impl FromStr for MetricsAddr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("off") {
            return Ok(Self::Off);
        }
        s.parse()
            .map(Self::At)
            .map_err(|_| format!("{s:?} is neither \"off\" nor an address such as 127.0.0.1:9052"))
    }
}

/// Which database to use.
#[derive(Debug, Clone, clap::Args)]
pub struct DatabaseConfig {
    /// postgres://… or sqlite:…; default: SQLite in the data directory.
    #[arg(
        long,
        env = "NUMHUB_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,

    /// Directory for the embedded SQLite databases.
    #[arg(
        long,
        env = "NUMHUB_DATA_DIR",
        default_value = "data",
        value_name = "DIR"
    )]
    pub data_dir: PathBuf,

    /// Most connections the service opens to the database.
    #[arg(long, env = "NUMHUB_DB_MAX_CONNECTIONS", default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub db_max_connections: u32,
}

impl DatabaseConfig {
    /// The URL to connect to: the configured one, or `<data_dir>/<name>.db`.
    pub fn url(&self, defaults: &ServiceDefaults) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}",
                self.data_dir
                    .join(format!("{}.db", defaults.name))
                    .display()
            ),
        }
    }
}

/// Parses the command line and environment, or exits with a message that
/// names the flag and the environment variable at fault.
pub fn parse<T: clap::Parser>() -> T {
    parse_with(T::command())
}

/// [`parse`] for a command built at run time (a name, hidden flags).
pub fn parse_with<T: clap::FromArgMatches>(command: clap::Command) -> T {
    let parsed = command
        .clone()
        .try_get_matches()
        .and_then(|mut matches| T::from_arg_matches_mut(&mut matches));
    match parsed {
        Ok(parsed) => parsed,
        Err(error) => {
            let text = name_env_variable(&command, error.render().to_string());
            if error.use_stderr() {
                eprintln!("{text}");
                std::process::exit(2);
            }
            println!("{text}");
            std::process::exit(0);
        }
    }
}

/// clap names the flag of an invalid value, not its variable; operators set
/// variables, so the message starts with the variable's name.
fn name_env_variable(command: &clap::Command, text: String) -> String {
    let mut args: Vec<_> = command.get_arguments().cloned().collect();
    for sub in command.get_subcommands() {
        args.extend(sub.get_arguments().cloned());
    }
    let culprit = args.iter().find_map(|arg| {
        let long = arg.get_long()?;
        let env = arg.get_env()?;
        text.contains(&format!("'--{long}")).then(|| {
            format!(
                "invalid configuration in {} (--{long})",
                env.to_string_lossy()
            )
        })
    });
    match culprit {
        Some(line) => format!("{line}\n{text}"),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        server: ServerConfig,
    }

    #[test]
    fn invalid_values_name_their_variable() {
        let error = Cli::try_parse_from(["x", "--listen-addr", "nowhere"]).unwrap_err();
        let text = name_env_variable(
            &<Cli as clap::CommandFactory>::command(),
            error.render().to_string(),
        );
        assert!(
            text.starts_with("invalid configuration in NUMHUB_LISTEN_ADDR"),
            "{text}"
        );
    }

    #[test]
    fn call_defaults_agree_with_the_flags() {
        #[derive(Debug, Parser)]
        struct Calls {
            #[command(flatten)]
            calls: CallConfig,
        }
        let parsed = Calls::try_parse_from(["x"]).unwrap().calls;
        let default = CallConfig::default();
        assert_eq!(parsed.connect_timeout, default.connect_timeout);
        assert_eq!(parsed.call_timeout, default.call_timeout);
    }

    #[test]
    fn metrics_can_be_switched_off() {
        let cli = Cli::try_parse_from(["x", "--metrics-addr", "off"]).unwrap();
        let defaults = ServiceDefaults {
            name: "t",
            grpc_port: 1,
            metrics_port: 2,
        };
        assert_eq!(cli.server.metrics_addr(&defaults), None);
        let cli = Cli::try_parse_from(["x"]).unwrap();
        assert_eq!(cli.server.metrics_addr(&defaults).unwrap().port(), 2);
        assert_eq!(cli.server.listen_addr(&defaults).port(), 1);
    }
}
