//! The catalog's domain types.

use numhub_runtime::clock::Timestamp;

pub use crate::phone::PhoneError;
pub use numhub_runtime::rental::RentalDuration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub code: String,
    pub name: String,
    pub domain: String,
    pub disabled: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Country {
    pub code: String,
    pub name: String,
    pub dial_prefix: String,
    pub activate_id: i32,
    pub disabled: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    pub country_code: String,
    pub code: String,
    pub name: String,
    pub disabled: bool,
}

numhub_runtime::stored_enum! {
    /// The kind of line behind a number; stored as its proto number.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub enum NumberType {
        Voip = 1,
        NonVoip = 2,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivationPrice {
    pub service_code: String,
    pub country_code: String,
    /// Empty: any operator without a price of its own.
    pub operator: String,
    pub price: i64,
    pub currency: String,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RentalPlan {
    pub country_code: String,
    pub number_type: NumberType,
    /// Empty: any service without a plan of its own.
    pub service_code: String,
    pub duration: RentalDuration,
    pub price: i64,
    pub original_price: Option<i64>,
    pub currency: String,
    pub updated_at: Timestamp,
}

/// A country as ListCountries shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountryOffer {
    pub country: Country,
    /// For a service: its lowest price here, and the currency.
    pub price: Option<(i64, String)>,
    pub stock: i64,
    pub average_arrival_ms: Option<i64>,
}

/// The rental packages of one country that can be bought now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RentalPricing {
    pub country: Country,
    pub packages: Vec<RentalPlan>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryStatus {
    pub country_code: String,
    pub duration: RentalDuration,
    pub number_type: NumberType,
    pub stock: i64,
}

/// A number to add to the inventory, as an operator sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberImport {
    pub phone_number: String,
    pub country_code: String,
    pub operator: String,
    pub number_type: Option<NumberType>,
    pub source: String,
}

/// Why one row of an import was left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportProblem {
    Invalid,
    Unknown,
    AlreadyExists,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedNumber {
    pub index: usize,
    pub phone_number: String,
    pub problem: ImportProblem,
    pub field: &'static str,
    pub description: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub imported: usize,
    pub rejected: Vec<RejectedNumber>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberState {
    Available,
    Leased,
    Quarantined,
}

/// A number of the inventory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneNumber {
    pub id: String,
    pub e164: String,
    pub country_code: String,
    pub operator: String,
    pub number_type: NumberType,
    pub source: String,
    pub free_at: Timestamp,
    /// When the number's last lease ends (or ended).
    pub lease_ends_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

impl PhoneNumber {
    pub fn state(&self, now: Timestamp) -> NumberState {
        if self.free_at <= now {
            NumberState::Available
        } else if self.lease_ends_at.is_some_and(|end| now < end) {
            NumberState::Leased
        } else {
            NumberState::Quarantined
        }
    }
}

numhub_runtime::stored_enum! {
    /// Who holds a lease; stored as its proto number.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum LeaseKind {
        Activation = 1,
        Rental = 2,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseState {
    Active,
    Released,
    Expired,
}

/// A number held by an activation or a rental over [started_at, ended_at).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub id: String,
    pub kind: LeaseKind,
    pub number_id: String,
    pub phone_number: String,
    pub country_code: String,
    pub operator: String,
    pub number_type: NumberType,
    pub account_id: String,
    pub holder_id: String,
    /// Empty for a rental of any service.
    pub service_code: String,
    pub rental_duration: Option<RentalDuration>,
    pub price: i64,
    pub currency: String,
    pub started_at: Timestamp,
    pub expires_at: Timestamp,
    pub released_at: Option<Timestamp>,
}

impl Lease {
    pub fn state(&self, now: Timestamp) -> LeaseState {
        if self.released_at.is_some() {
            LeaseState::Released
        } else if now >= self.expires_at {
            LeaseState::Expired
        } else {
            LeaseState::Active
        }
    }

    /// When the lease stops holding its number.
    pub fn ended_at(&self) -> Timestamp {
        self.released_at.unwrap_or(self.expires_at)
    }
}

/// What LeaseNumber asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseSpec {
    pub kind: LeaseKind,
    pub account_id: String,
    pub holder_id: String,
    pub country_code: String,
    /// Required for an activation.
    pub service_code: Option<String>,
    pub operator: Option<String>,
    /// Required for a rental.
    pub number_type: Option<NumberType>,
    /// Required for a rental.
    pub rental_duration: Option<RentalDuration>,
    pub max_price: Option<i64>,
    pub expires_at: Timestamp,
    pub request_id: String,
    /// Only this number (E.164): a reuse by the account that first used
    /// it for the service.
    pub phone_number: Option<String>,
}

impl LeaseSpec {
    /// Every field but the request id, so a reused key with other fields is
    /// told apart from a retry.
    pub fn fingerprint(&self) -> String {
        let fields = [
            (self.kind as i64).to_string(),
            self.holder_id.clone(),
            self.country_code.clone(),
            self.service_code.clone().unwrap_or_default(),
            self.operator.clone().unwrap_or_default(),
            self.number_type.map_or(0, |t| t as i64).to_string(),
            self.rental_duration.map_or(0, |d| d as i64).to_string(),
            self.max_price.map_or(String::new(), |p| p.to_string()),
            self.expires_at.unix_micros().to_string(),
        ];
        let mut fields: Vec<&str> = fields.iter().map(String::as_str).collect();
        // Only when set, so fingerprints recorded before the field existed
        // still match their retries.
        if let Some(number) = &self.phone_number {
            fields.push(number);
        }
        numhub_runtime::idempotency::fingerprint(&fields)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_numbers_round_trip() {
        for t in NumberType::ALL {
            assert_eq!(NumberType::from_i64(t as i64), Some(t));
        }
        for d in RentalDuration::ALL {
            assert_eq!(RentalDuration::from_i64(d as i64), Some(d));
        }
        assert_eq!(NumberType::from_i64(0), None);
        assert_eq!(RentalDuration::from_i64(10), None);
        assert_eq!(LeaseKind::from_i64(2), Some(LeaseKind::Rental));
    }

    #[test]
    fn lease_states_follow_time_and_release() {
        let mut lease = Lease {
            id: "l".into(),
            kind: LeaseKind::Activation,
            number_id: "n".into(),
            phone_number: "+1".into(),
            country_code: "US".into(),
            operator: String::new(),
            number_type: NumberType::Voip,
            account_id: "a".into(),
            holder_id: "h".into(),
            service_code: "wa".into(),
            rental_duration: None,
            price: 1,
            currency: "USD".into(),
            started_at: Timestamp::from_unix_micros(0),
            expires_at: Timestamp::from_unix_micros(100),
            released_at: None,
        };
        assert_eq!(
            lease.state(Timestamp::from_unix_micros(99)),
            LeaseState::Active
        );
        assert_eq!(
            lease.state(Timestamp::from_unix_micros(100)),
            LeaseState::Expired
        );
        lease.released_at = Some(Timestamp::from_unix_micros(50));
        assert_eq!(
            lease.state(Timestamp::from_unix_micros(60)),
            LeaseState::Released
        );
        assert_eq!(lease.ended_at().unix_micros(), 50);
    }
}

// Requests, as the gRPC layer parses them (see `crate::proto`): every field
// checked, unset optional ones `None`.

/// A page of a list ordered by code: at most `size` entries after the code
/// `after` (empty: from the first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodePage {
    pub size: u32,
    pub after: String,
}

/// ListCountries and ListRentalPricing: a page of countries, for one
/// service or for all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountryPage {
    pub service_code: Option<String>,
    pub page: CodePage,
}

/// ListPrices: a page of prices, after the price whose service, country and
/// operator are `after` (all empty: from the first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricePage {
    pub service_code: Option<String>,
    pub country_code: Option<String>,
    pub size: u32,
    pub after: (String, String, String),
}

/// ListNumbers: a page of the inventory, newest first, before the number
/// `before`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberPage {
    pub country_code: Option<String>,
    pub size: u32,
    pub before: Option<String>,
}

/// GetRentalPricing: a country's packages, for one service or for any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricingQuery {
    pub country_code: String,
    pub service_code: Option<String>,
}

/// CheckInventory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryQuery {
    pub country_code: String,
    pub duration: Option<RentalDuration>,
    pub number_type: Option<NumberType>,
}

/// An activation price's key; `operator` `None` for any operator without a
/// price of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceKey {
    pub service_code: String,
    pub country_code: String,
    pub operator: Option<String>,
}

/// SetActivationPrice; `currency` `None` for the catalog's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewActivationPrice {
    pub key: PriceKey,
    pub price: i64,
    pub currency: Option<String>,
}

/// A rental plan's key; `service_code` `None` for any service without a
/// plan of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanKey {
    pub country_code: String,
    pub number_type: NumberType,
    pub service_code: Option<String>,
    pub duration: RentalDuration,
}

/// SetRentalPlan; `currency` `None` for the catalog's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRentalPlan {
    pub key: PlanKey,
    pub price: i64,
    /// With its own currency, `None` for the catalog's.
    pub original_price: Option<(i64, Option<String>)>,
    pub currency: Option<String>,
}

/// Extend: a lease's new end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension {
    pub lease_id: String,
    pub until: Timestamp,
}

/// ListActiveLeases: at most `size` leases after the lease `after`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeasePage {
    pub after: Option<String>,
    pub size: u32,
}

/// MarkSkipped: a number an account skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip {
    pub account_id: String,
    pub phone_number: String,
}

/// Resolve: whose a number was at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    pub phone_number: String,
    pub at: Timestamp,
}

/// RecordArrival: how long an SMS of a service took to reach a country's
/// number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArrivalTime {
    pub service_code: String,
    pub country_code: String,
    pub arrival_ms: i64,
}
