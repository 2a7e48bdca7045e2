//! The command line: global flags and one subcommand per thing a customer
//! does, parsed by clap.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use numhub_proto::catalog::v1::{NumberType, RentalDuration};
use numhub_proto::common::v1::{Money, Scope};
use numhub_proto::orders::v1::ActivationStatus;
use numhub_proto::rentals::v1::RentalFilter;

use crate::output::{exponent, parse_decimal};

/// The address numhubd serves on by default.
pub const DEFAULT_ADDR: &str = "http://127.0.0.1:50050";

/// numhub's client: buy virtual numbers, receive their SMS codes, rent
/// numbers for days to a year, and manage the wallet and API keys, over
/// numhub's gRPC API.
#[derive(Debug, Parser)]
#[command(
    name = "numhub",
    version,
    after_help = "Errors are one line on standard error; the exit code is 2 for a usage \
                  error, 1 for any other failure."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,

    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command takes.
#[derive(Debug, Args)]
pub struct Global {
    /// numhub's gRPC address.
    #[arg(long, global = true, env = "NUMHUB_ADDR", default_value = DEFAULT_ADDR,
          value_name = "URL", help_heading = "Global options")]
    pub addr: String,

    /// The API key to call numhub with.
    #[arg(
        long,
        global = true,
        env = "NUMHUB_API_KEY",
        hide_env_values = true,
        value_name = "KEY",
        help_heading = "Global options"
    )]
    pub key: Option<ApiKey>,

    /// Machine-readable output: one JSON object per line, per result or per
    /// stream event; money as integer minor units with its currency, times
    /// in RFC 3339.
    #[arg(long, global = true, help_heading = "Global options")]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Shows the wallet's available balance.
    Balance,
    /// Lists the services numbers can be bought for.
    Services,
    /// Lists countries; for a service, with its lowest price, stock and
    /// average SMS arrival time.
    Countries {
        /// Only countries where this service is offered, e.g. wa.
        #[arg(long, value_name = "CODE")]
        service: Option<String>,
    },
    /// Lists activation prices.
    Prices {
        /// Only this service's prices, e.g. wa.
        #[arg(long, value_name = "CODE")]
        service: Option<String>,
        /// Only this country's prices (ISO code), e.g. US.
        #[arg(long, value_name = "CODE")]
        country: Option<String>,
    },
    /// Buys a number for one verification; with --wait, prints the code
    /// alone once its SMS arrives.
    Buy(BuyArgs),
    /// Streams one activation's events until it ends, or with no id every
    /// message that reaches the account's numbers.
    Watch(WatchArgs),
    /// Cancels an activation that received no SMS: its price is refunded.
    Cancel(IdArg),
    /// Completes an activation whose code was used: its price is kept.
    Complete(IdArg),
    /// Cancels an activation that received no SMS and never offers its
    /// number to this account again: its price is refunded.
    Skip(IdArg),
    /// Asks for another SMS on an activation's number.
    AnotherSms(IdArg),
    /// Buys a new activation on the number of a finished one.
    Reuse(ReuseArgs),
    /// Shows one activation with its messages.
    Get(IdArg),
    /// Lists the account's activations, newest first.
    History(HistoryArgs),
    /// Rents a number for days to a year; with --wait, then prints each SMS
    /// it receives.
    Rent(RentArgs),
    /// Lists the account's rentals, newest first; or shows, renews or
    /// cancels one.
    #[command(args_conflicts_with_subcommands = true)]
    Rentals(RentalsArgs),
    /// Shows the SMS a rented number received, oldest first; with --follow,
    /// then each new one as it arrives.
    Inbox(InboxArgs),
    /// Manages the account's API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Debug, Args)]
pub struct IdArg {
    /// The activation's id.
    #[arg(value_name = "ACTIVATION_ID")]
    pub id: String,
}

/// How a purchase waits for its code.
#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Wait for the SMS and print its code alone on standard output (the
    /// number goes to standard error).
    #[arg(long)]
    pub wait: bool,

    /// How long --wait waits for the code.
    #[arg(long, default_value = "20m", value_parser = humantime::parse_duration,
          value_name = "DURATION", requires = "wait")]
    pub timeout: Duration,
}

#[derive(Debug, Args)]
pub struct BuyArgs {
    /// The service, e.g. wa (see `numhub services`).
    #[arg(long, value_name = "CODE")]
    pub service: String,

    /// The country's ISO code, e.g. US (see `numhub countries`).
    #[arg(long, value_name = "CODE")]
    pub country: String,

    /// Only numbers of this operator.
    #[arg(long, value_name = "CODE")]
    pub operator: Option<String>,

    /// The most to pay: minor units (50 is USD 0.50) or an amount with its
    /// currency ("USD 0.50").
    #[arg(long, value_name = "PRICE")]
    pub max_price: Option<Price>,

    /// The purchase's idempotency key; a new UUIDv7 when not given. Run the
    /// command again with the same id to retry it without buying twice.
    #[arg(long, value_name = "ID")]
    pub request_id: Option<String>,

    #[command(flatten)]
    pub wait: WaitArgs,
}

#[derive(Debug, Args)]
pub struct ReuseArgs {
    /// The finished activation whose number to buy again.
    #[arg(value_name = "ACTIVATION_ID")]
    pub id: String,

    /// The most to pay: minor units (50 is USD 0.50) or an amount with its
    /// currency ("USD 0.50").
    #[arg(long, value_name = "PRICE")]
    pub max_price: Option<Price>,

    /// The purchase's idempotency key; a new UUIDv7 when not given.
    #[arg(long, value_name = "ID")]
    pub request_id: Option<String>,

    #[command(flatten)]
    pub wait: WaitArgs,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// One activation to watch (until it ends); without it, every message of
    /// the account (until interrupted).
    #[arg(value_name = "ACTIVATION_ID")]
    pub id: Option<String>,

    /// Resume after this event: the `cursor` of the last event received
    /// (shown by --json).
    #[arg(long, value_name = "CURSOR")]
    pub after: Option<String>,

    /// Stop after this many events.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: Option<u64>,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Only activations in these statuses (comma-separated or repeated).
    #[arg(long, value_delimiter = ',', value_name = "STATUS")]
    pub status: Vec<StatusFilter>,

    /// The most activations to show.
    #[arg(long, default_value_t = 20, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub limit: u32,
}

#[derive(Debug, Args)]
pub struct RentArgs {
    /// The country's ISO code, e.g. US.
    #[arg(long, value_name = "CODE")]
    pub country: String,

    /// The type of number.
    #[arg(long = "type", value_enum, default_value_t = NumberTypeArg::Voip, value_name = "TYPE")]
    pub number_type: NumberTypeArg,

    /// How long to rent it for.
    #[arg(long, value_enum, default_value_t = DurationArg::OneMonth, value_name = "DURATION")]
    pub duration: DurationArg,

    /// Receive only this service's SMS (at the service's own plan if it has
    /// one), e.g. wa; every SMS when not given.
    #[arg(long, value_name = "CODE")]
    pub service: Option<String>,

    /// Let the rental end at its expiry instead of renewing it automatically
    /// shortly before.
    #[arg(long)]
    pub no_auto_renew: bool,

    /// The most to pay for the package: minor units (500 is USD 5.00) or an
    /// amount with its currency ("USD 5.00"). Auto-renew has no limit.
    #[arg(long, value_name = "PRICE")]
    pub max_price: Option<Price>,

    /// The purchase's idempotency key; a new UUIDv7 when not given. Run the
    /// command again with the same id to retry it without paying twice.
    #[arg(long, value_name = "ID")]
    pub request_id: Option<String>,

    /// Then print each SMS the number receives (sender, code, text), until
    /// interrupted or the rental ends.
    #[arg(long)]
    pub wait: bool,
}

#[derive(Debug, Args)]
pub struct RentalsArgs {
    #[command(subcommand)]
    pub command: Option<RentalsCommand>,

    #[command(flatten)]
    pub list: RentalsListArgs,
}

#[derive(Debug, Args)]
pub struct RentalsListArgs {
    /// Which rentals to list.
    #[arg(long, value_enum, default_value_t = RentalFilterArg::All, value_name = "FILTER")]
    pub filter: RentalFilterArg,

    /// The most rentals to show.
    #[arg(long, default_value_t = 20, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub limit: u32,
}

#[derive(Debug, Subcommand)]
pub enum RentalsCommand {
    /// Lists the account's rentals, newest first (what plain `numhub
    /// rentals` does).
    List(RentalsListArgs),
    /// Shows one rental with its newest messages.
    Show(RentalIdArg),
    /// Renews an active rental: charges a package's current price and adds
    /// its duration to the expiry.
    Renew(RenewArgs),
    /// Cancels an active rental and releases its number. Everything charged
    /// is refunded only within the refund window after purchase (2 hours
    /// unless the operator set another) and before any SMS.
    Cancel(CancelRentalArgs),
    /// Turns a rental's auto-renew on or off.
    AutoRenew {
        /// The rental's id.
        #[arg(value_name = "RENTAL_ID")]
        id: String,
        /// Whether numhub renews it shortly before it expires.
        #[arg(value_enum, value_name = "ON_OFF")]
        state: Switch,
    },
}

#[derive(Debug, Args)]
pub struct RentalIdArg {
    /// The rental's id.
    #[arg(value_name = "RENTAL_ID")]
    pub id: String,
}

#[derive(Debug, Args)]
pub struct RenewArgs {
    /// The rental's id.
    #[arg(value_name = "RENTAL_ID")]
    pub id: String,

    /// The package to add; the rental's renewal package (the last one
    /// bought) when not given.
    #[arg(long, value_enum, value_name = "DURATION")]
    pub duration: Option<DurationArg>,

    /// The most to pay for the package today: minor units (500 is USD 5.00)
    /// or an amount with its currency ("USD 5.00").
    #[arg(long, value_name = "PRICE")]
    pub max_price: Option<Price>,

    /// The renewal's idempotency key; a new UUIDv7 when not given. Run the
    /// command again with the same id to retry it without paying twice.
    #[arg(long, value_name = "ID")]
    pub request_id: Option<String>,
}

#[derive(Debug, Args)]
pub struct CancelRentalArgs {
    /// The rental's id.
    #[arg(value_name = "RENTAL_ID")]
    pub id: String,

    /// The cancel's idempotency key; a new UUIDv7 when not given.
    #[arg(long, value_name = "ID")]
    pub request_id: Option<String>,
}

#[derive(Debug, Args)]
pub struct InboxArgs {
    /// A rented number (E.164, e.g. +14035551234: the messages of every
    /// rental of it) or a rental's id (its newest 100 messages).
    #[arg(value_name = "NUMBER_OR_RENTAL_ID")]
    pub target: InboxTarget,

    /// Then print each new SMS as it arrives, until interrupted (or, for a
    /// rental id, until the rental ends).
    #[arg(long)]
    pub follow: bool,

    /// Show only the newest N messages (still oldest first).
    #[arg(long, default_value_t = 20, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub limit: u32,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Lists the account's API keys, newest first.
    List {
        /// Revoked keys too.
        #[arg(long)]
        all: bool,
    },
    /// Creates an API key and prints its secret, once.
    Create {
        /// A name for people, e.g. "ci server".
        #[arg(long)]
        name: String,
        /// What the key may do (repeat for several); read and write when not
        /// given.
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<ScopeArg>,
    },
    /// Revokes an API key: it stops working within the server's cache window.
    Revoke {
        /// The key's id (see `numhub keys list`).
        #[arg(value_name = "KEY_ID")]
        id: String,
    },
}

/// A status to filter the history by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusFilter {
    Creating,
    Waiting,
    Received,
    Finished,
    Cancelled,
    Expired,
    Skipped,
    Failed,
}

impl From<StatusFilter> for ActivationStatus {
    fn from(status: StatusFilter) -> Self {
        match status {
            StatusFilter::Creating => Self::Creating,
            StatusFilter::Waiting => Self::Waiting,
            StatusFilter::Received => Self::Received,
            StatusFilter::Finished => Self::Finished,
            StatusFilter::Cancelled => Self::Cancelled,
            StatusFilter::Expired => Self::Expired,
            StatusFilter::Skipped => Self::Skipped,
            StatusFilter::Failed => Self::Failed,
        }
    }
}

/// The type of a rented number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum NumberTypeArg {
    /// A VoIP number.
    Voip,
    /// A number of a physical SIM on a mobile network.
    NonVoip,
}

impl From<NumberTypeArg> for NumberType {
    fn from(number_type: NumberTypeArg) -> Self {
        match number_type {
            NumberTypeArg::Voip => Self::Voip,
            NumberTypeArg::NonVoip => Self::NonVoip,
        }
    }
}

/// A rental package: days are exact multiples of 24 hours, months are
/// calendar months.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DurationArg {
    /// 1 day.
    #[value(name = "1d")]
    OneDay,
    /// 3 days.
    #[value(name = "3d")]
    ThreeDays,
    /// 7 days.
    #[value(name = "7d", alias = "1w")]
    SevenDays,
    /// 14 days.
    #[value(name = "14d", alias = "2w")]
    FourteenDays,
    /// 30 days.
    #[value(name = "30d")]
    ThirtyDays,
    /// 1 calendar month.
    #[value(name = "1m")]
    OneMonth,
    /// 3 calendar months.
    #[value(name = "3m")]
    ThreeMonths,
    /// 6 calendar months.
    #[value(name = "6m")]
    SixMonths,
    /// 12 calendar months.
    #[value(name = "1y", alias = "12m")]
    OneYear,
}

impl From<DurationArg> for RentalDuration {
    fn from(duration: DurationArg) -> Self {
        match duration {
            DurationArg::OneDay => Self::OneDay,
            DurationArg::ThreeDays => Self::ThreeDays,
            DurationArg::SevenDays => Self::SevenDays,
            DurationArg::FourteenDays => Self::FourteenDays,
            DurationArg::ThirtyDays => Self::ThirtyDays,
            DurationArg::OneMonth => Self::OneMonth,
            DurationArg::ThreeMonths => Self::ThreeMonths,
            DurationArg::SixMonths => Self::SixMonths,
            DurationArg::OneYear => Self::OneYear,
        }
    }
}

/// Which rentals to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RentalFilterArg {
    /// Active rentals.
    Active,
    /// Active rentals that expire within 10 days: candidates for a renewal.
    ExpiringSoon,
    /// Rentals whose time ran out.
    Expired,
    /// Rentals the account cancelled.
    Cancelled,
    /// Every rental, whatever its status.
    All,
}

impl From<RentalFilterArg> for RentalFilter {
    fn from(filter: RentalFilterArg) -> Self {
        match filter {
            RentalFilterArg::Active => Self::Active,
            RentalFilterArg::ExpiringSoon => Self::ExpiringSoon,
            RentalFilterArg::Expired => Self::Expired,
            RentalFilterArg::Cancelled => Self::Cancelled,
            RentalFilterArg::All => Self::All,
        }
    }
}

/// On or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Switch {
    On,
    Off,
}

/// A scope a new key may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScopeArg {
    Read,
    Write,
    Admin,
}

impl From<ScopeArg> for Scope {
    fn from(scope: ScopeArg) -> Self {
        match scope {
            ScopeArg::Read => Self::Read,
            ScopeArg::Write => Self::Write,
            ScopeArg::Admin => Self::Admin,
        }
    }
}

/// An API key's secret: never shown, not even by Debug.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

impl FromStr for ApiKey {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.trim().to_owned()))
    }
}

/// What `numhub inbox` reads: a rental's inbox, or a rented number's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboxTarget {
    Rental(String),
    /// E.164.
    Number(String),
}

impl FromStr for InboxTarget {
    type Err = String;

    /// A rental id (a UUID), or a phone number: E.164, or its digits alone,
    /// with the spaces, dashes, dots and brackets people write in it left
    /// out.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if let Ok(id) = uuid::Uuid::parse_str(s) {
            return Ok(Self::Rental(id.hyphenated().to_string()));
        }
        let number: String = s
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
            .collect();
        let digits = number.strip_prefix('+').unwrap_or(&number);
        if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) {
            return Ok(Self::Number(format!("+{digits}")));
        }
        Err(format!(
            "{s:?} is neither a phone number (E.164, e.g. +14035551234) nor a rental id \
             (see `numhub rentals`)"
        ))
    }
}

/// A price limit: minor units of the catalog's currency, or an amount with
/// its currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Price(pub Money);

impl FromStr for Price {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let money = |currency_code: String, minor_units: i64| {
            if minor_units <= 0 {
                return Err("must be positive".to_owned());
            }
            Ok(Self(Money {
                currency_code,
                minor_units,
            }))
        };
        if let Ok(minor_units) = s.parse::<i64>() {
            return money(String::new(), minor_units);
        }
        let letters = s.chars().take_while(char::is_ascii_alphabetic).count();
        let (currency, amount) = s.split_at(letters);
        let amount = amount.trim();
        if letters != 3 || amount.is_empty() {
            return Err(format!(
                "{s:?} is neither minor units (50) nor an amount with its currency (\"USD 0.50\")"
            ));
        }
        let currency = currency.to_ascii_uppercase();
        let minor_units = parse_decimal(amount, exponent(&currency)).ok_or_else(|| {
            format!(
                "{amount:?} is not an amount of {currency} with at most {} decimals",
                exponent(&currency)
            )
        })?;
        money(currency, minor_units)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn prices_are_minor_units_or_amounts_with_their_currency() {
        let price = |s: &str| s.parse::<Price>().map(|p| p.0);
        assert_eq!(price("50").unwrap().minor_units, 50);
        assert_eq!(price("50").unwrap().currency_code, "");
        let usd = price("USD 0.50").unwrap();
        assert_eq!((usd.currency_code.as_str(), usd.minor_units), ("USD", 50));
        assert_eq!(price("usd1.5").unwrap().minor_units, 150);
        assert_eq!(price("JPY 120").unwrap().minor_units, 120);
        assert!(price("JPY 1.5").is_err());
        assert!(price("0.50").is_err());
        assert!(price("0").is_err());
        assert!(price("USD -1").is_err());
        assert!(price("USD 0.505").is_err());
    }

    #[test]
    fn the_key_never_shows_in_debug_output() {
        let cli = Cli::try_parse_from(["numhub", "--key", "nh_live_secret", "balance"]).unwrap();
        assert!(!format!("{cli:?}").contains("nh_live_secret"));
        assert_eq!(cli.global.key.unwrap().expose(), "nh_live_secret");
    }

    #[test]
    fn global_flags_go_anywhere() {
        let cli = Cli::try_parse_from(["numhub", "balance", "--json", "--addr", "x:1"]).unwrap();
        assert!(cli.global.json);
        assert_eq!(cli.global.addr, "x:1");
    }

    #[test]
    fn durations_are_short_and_cover_every_package() {
        let duration = |s: &str| -> Result<RentalDuration, clap::Error> {
            let cli = Cli::try_parse_from(["numhub", "rent", "--country", "US", "--duration", s])?;
            match cli.command {
                Command::Rent(args) => Ok(RentalDuration::from(args.duration)),
                _ => unreachable!(),
            }
        };
        assert_eq!(duration("7d").unwrap(), RentalDuration::SevenDays);
        assert_eq!(duration("1w").unwrap(), RentalDuration::SevenDays);
        assert_eq!(duration("1m").unwrap(), RentalDuration::OneMonth);
        assert_eq!(duration("3m").unwrap(), RentalDuration::ThreeMonths);
        assert_eq!(duration("1y").unwrap(), RentalDuration::OneYear);
        let every: Vec<RentalDuration> = DurationArg::value_variants()
            .iter()
            .map(|d| RentalDuration::from(*d))
            .collect();
        assert_eq!(every.len(), 9, "one value per package");
        for value in 1..=9 {
            assert!(every.iter().any(|d| *d as i32 == value), "{value}");
        }
        let error = duration("2y").unwrap_err();
        assert_eq!(error.exit_code(), 2);
        assert!(error.to_string().contains("1m"), "{error}");
        let cli = Cli::try_parse_from(["numhub", "rent", "--country", "US"]).unwrap();
        let Command::Rent(args) = cli.command else {
            panic!("not rent")
        };
        assert_eq!(
            RentalDuration::from(args.duration),
            RentalDuration::OneMonth
        );
        assert_eq!(NumberType::from(args.number_type), NumberType::Voip);
        assert!(!args.no_auto_renew);
    }

    #[test]
    fn plain_rentals_lists_and_its_subcommands_take_no_list_flags() {
        let cli = Cli::try_parse_from(["numhub", "rentals", "--filter", "expiring-soon"]).unwrap();
        let Command::Rentals(args) = cli.command else {
            panic!("not rentals")
        };
        assert!(args.command.is_none());
        assert_eq!(args.list.filter, RentalFilterArg::ExpiringSoon);
        assert_eq!(args.list.limit, 20);
        let cli = Cli::try_parse_from(["numhub", "rentals", "auto-renew", "id-1", "off"]).unwrap();
        let Command::Rentals(RentalsArgs {
            command: Some(RentalsCommand::AutoRenew { id, state }),
            ..
        }) = cli.command
        else {
            panic!("not auto-renew")
        };
        assert_eq!((id.as_str(), state), ("id-1", Switch::Off));
        let error =
            Cli::try_parse_from(["numhub", "rentals", "--limit", "5", "show", "id-1"]).unwrap_err();
        assert_eq!(error.exit_code(), 2);
        let error =
            Cli::try_parse_from(["numhub", "rentals", "auto-renew", "id-1", "maybe"]).unwrap_err();
        assert_eq!(error.exit_code(), 2);
    }

    #[test]
    fn the_inbox_takes_a_number_or_a_rental_id() {
        let target = |s: &str| s.parse::<InboxTarget>();
        assert_eq!(
            target("+14035551234"),
            Ok(InboxTarget::Number("+14035551234".into()))
        );
        assert_eq!(
            target("1 (403) 555-1234"),
            Ok(InboxTarget::Number("+14035551234".into()))
        );
        assert_eq!(
            target("0190A000-0000-7000-8000-000000000001"),
            Ok(InboxTarget::Rental(
                "0190a000-0000-7000-8000-000000000001".into()
            ))
        );
        assert!(target("wa").is_err());
        assert!(target("+").is_err());
        assert!(target("").is_err());
    }

    #[test]
    fn timeout_needs_wait() {
        let error = Cli::try_parse_from([
            "numhub",
            "buy",
            "--service",
            "wa",
            "--country",
            "US",
            "--timeout",
            "1m",
        ])
        .unwrap_err();
        assert_eq!(error.exit_code(), 2);
    }
}
