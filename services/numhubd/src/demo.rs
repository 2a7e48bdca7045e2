//! What a newcomer finds on numhubd's first start: numbers in three
//! countries, prices for popular services and rental packages, and a demo customer with money
//! and an API key, printed once. Loaded in process, as the operator's admin
//! calls would, and only once: a later start finds the demo customer's key
//! and changes nothing, so an operator's own prices and numbers stay.

use numhub_accounts::Accounts;
use numhub_auth::Scopes;
use numhub_catalog::Catalog;
use numhub_catalog::model::{NumberImport, NumberType, RentalDuration};
use numhub_proto::common::v1::{Money, Scope};
use numhub_proto::wallet::v1 as wallet_pb;
use numhub_proto::wallet::v1::wallet_internal_service_server::WalletInternalService as _;
use numhub_wallet::Wallet;

/// The demo customer's account request id: the same account on every start.
const ACCOUNT_REQUEST_ID: &str = "numhubd-demo";
/// The demo customer's opening balance: USD 50.00.
pub const OPENING_BALANCE: i64 = 5_000;
/// How many numbers each demo country gets.
const NUMBERS_PER_COUNTRY: u32 = 100;
/// (country, first number's digits before the running part) of the demo
/// inventory: ranges set aside for drama and testing where there are some.
const COUNTRIES: [(&str, &str); 3] = [("US", "+1555010"), ("GB", "+44770090"), ("DE", "+4915550")];
/// (service, price in US cents in the US); other countries cost more.
const PRICES: [(&str, i64); 5] = [("wa", 45), ("tg", 30), ("go", 25), ("fb", 20), ("ig", 20)];
/// (rental package, price in US cents in the US) of a VoIP number for
/// every service; other countries cost more.
const RENTAL_PLANS: [(RentalDuration, i64); 4] = [
    (RentalDuration::SevenDays, 200),
    (RentalDuration::OneMonth, 499),
    (RentalDuration::ThreeMonths, 1_299),
    (RentalDuration::OneYear, 3_999),
];

/// Loads the demo on a fresh installation; the demo customer's new API key
/// when it did, `None` when the demo was there already.
pub async fn load(
    accounts: &Accounts,
    wallet: &Wallet,
    catalog: &Catalog,
) -> anyhow::Result<Option<String>> {
    let account = accounts
        .create_account("Demo customer", None, ACCOUNT_REQUEST_ID)
        .await?;
    let (keys, _) = accounts.list_keys(&account.id, true, None, 1).await?;
    if !keys.is_empty() {
        return Ok(None);
    }
    for (index, (country, prefix)) in COUNTRIES.iter().enumerate() {
        let numbers = (0..NUMBERS_PER_COUNTRY)
            .map(|n| NumberImport {
                phone_number: format!("{prefix}{n:04}"),
                country_code: (*country).into(),
                operator: String::new(),
                number_type: Some(NumberType::Voip),
                source: "numhubd demo".into(),
            })
            .collect();
        catalog.import_numbers(numbers).await?;
        for (service, cents) in PRICES {
            let price = cents + cents * index as i64 / 2;
            catalog
                .set_activation_price(service, country, "", price, None)
                .await?;
        }
        for (duration, cents) in RENTAL_PLANS {
            let price = cents + cents * index as i64 / 2;
            catalog
                .set_rental_plan(country, NumberType::Voip, "", duration, price, None, None)
                .await?;
        }
    }
    let credit = wallet_pb::CreditRequest {
        account_id: account.id.clone(),
        amount: Some(Money {
            currency_code: catalog.currency().to_owned(),
            minor_units: OPENING_BALANCE,
        }),
        request_id: format!("{ACCOUNT_REQUEST_ID}-opening-balance"),
        reason: "numhubd demo".into(),
    };
    wallet
        .credit(tonic::Request::new(credit))
        .await
        .map_err(|status| anyhow::anyhow!("cannot credit the demo customer: {status:?}"))?;
    let scopes: Scopes = [Scope::Read, Scope::Write].into_iter().collect();
    let (_, secret) = accounts
        .create_key(&account.id, "demo", scopes, None)
        .await?;
    Ok(Some(secret))
}

/// Prints the demo customer's key once, on standard error, outside the log.
pub fn print_key(secret: &str) {
    eprintln!(
        "\n  numhub: the demo customer's API key (USD 50.00 to spend; shown once):\n\n    \
         {secret}\n\n  Buy a number and wait for its code:\n\n    \
         export NUMHUB_API_KEY={secret}\n    \
         cargo run -q -p numhub-cli -- buy --service wa --country US --wait\n\n  \
         Or rent one for a month and read its inbox:\n\n    \
         cargo run -q -p numhub-cli -- rent --country US\n"
    );
}
