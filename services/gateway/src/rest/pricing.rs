//! Seed 000's discovery of rentals: `/v1/pricing` (every country's rental
//! packages), `/v1/pricing/{countryCode}` and `/v1/inventory` (the live
//! stock of one route); and the names clients give rental packages and
//! number types, which the number routes read too.

use axum::extract::{Path, State};
use numhub_proto::catalog::v1 as pb;
use numhub_proto::catalog::v1::{NumberType, RentalDuration};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::{IntoParams, ToSchema};

use super::{Answer as _, MAX_COUNTRY_PAGES, rest_field};
use crate::Gateway;
use crate::caller::ApiKey;
use crate::input::Params;
use crate::reply::{self, Amount, ApiError, ErrorBody, Many, One, Reply};

/// A rental package as clients name it: seed 000's keys for months and a
/// year, seed 002's for days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Package(pub RentalDuration);

/// (duration, key, label) of every package numhub sells.
const PACKAGES: [(RentalDuration, &str, &str); 9] = [
    (RentalDuration::OneDay, "oneDay", "1 Day"),
    (RentalDuration::ThreeDays, "threeDay", "3 Days"),
    (RentalDuration::SevenDays, "sevenDay", "7 Days"),
    (RentalDuration::FourteenDays, "fourteenDay", "14 Days"),
    (RentalDuration::ThirtyDays, "thirtyDay", "30 Days"),
    (RentalDuration::OneMonth, "oneMonth", "1 Month"),
    (RentalDuration::ThreeMonths, "threeMonths", "3 Months"),
    (RentalDuration::SixMonths, "sixMonths", "6 Months"),
    (RentalDuration::OneYear, "oneYear", "1 Year"),
];

impl Package {
    /// Seed 000's default for a renewal.
    pub const ONE_MONTH: Package = Package(RentalDuration::OneMonth);

    /// A proto duration as a package; `None` for one numhub does not sell.
    pub fn of(duration: i32) -> Option<Self> {
        let duration = RentalDuration::try_from(duration).ok()?;
        PACKAGES
            .iter()
            .any(|(d, _, _)| *d == duration)
            .then_some(Package(duration))
    }

    pub fn key(self) -> &'static str {
        self.entry().1
    }

    /// For people: `1 Month`.
    pub fn label(self) -> &'static str {
        self.entry().2
    }

    fn entry(self) -> &'static (RentalDuration, &'static str, &'static str) {
        // Packages are made only from the table (`of`, `deserialize`).
        PACKAGES
            .iter()
            .find(|(d, _, _)| *d == self.0)
            .expect("a package of the table")
    }
}

impl Serialize for Package {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.key())
    }
}

impl<'de> Deserialize<'de> for Package {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let keys = PACKAGES.map(|(d, key, _)| (key, Package(d)));
        named(deserializer, &keys)
    }
}

/// A number type as clients name it: `voip` or `non_voip`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind(pub NumberType);

const KINDS: [(&str, Kind); 2] = [
    ("voip", Kind(NumberType::Voip)),
    ("non_voip", Kind(NumberType::NonVoip)),
];

impl Kind {
    /// A proto number type as a kind; `None` when unset.
    pub fn of(number_type: i32) -> Option<Self> {
        KINDS
            .iter()
            .map(|(_, kind)| *kind)
            .find(|kind| kind.0 as i32 == number_type)
    }

    pub fn key(self) -> &'static str {
        KINDS
            .iter()
            .find(|(_, kind)| *kind == self)
            .map_or("", |(key, _)| key)
    }
}

impl Serialize for Kind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.key())
    }
}

impl<'de> Deserialize<'de> for Kind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        named(deserializer, &KINDS)
    }
}

/// One of the values `names` names, refused with the list of names (never
/// the input, which may be anything).
pub fn named<'de, D: Deserializer<'de>, T: Copy>(
    deserializer: D,
    names: &[(&str, T)],
) -> Result<T, D::Error> {
    let name = String::deserialize(deserializer)?;
    names
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, value)| *value)
        .ok_or_else(|| {
            let names: Vec<&str> = names.iter().map(|(n, _)| *n).collect();
            serde::de::Error::custom(format!("must be one of {}", names.join(", ")))
        })
}

/// A country's rental packages on sale now.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CountryPricing {
    /// ISO 3166-1 alpha-2, e.g. `US`.
    pub country_code: String,
    pub country_name: String,
    /// By number type, then duration.
    pub packages: Vec<PackagePrice>,
}

/// The price of one package: what the wallet is charged for it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PackagePrice {
    /// `voip` or `non_voip`.
    #[schema(value_type = String, example = "voip")]
    pub number_type: Kind,
    /// The package's key: `oneDay`, `threeDay`, `sevenDay`, `fourteenDay`,
    /// `thirtyDay`, `oneMonth`, `threeMonths`, `sixMonths` or `oneYear`.
    #[schema(value_type = String, example = "oneMonth")]
    pub duration: Package,
    /// For people, e.g. `1 Month`.
    pub duration_label: &'static str,
    /// The final price, in `currency`.
    pub price: Amount,
    /// The list price before a discount; null without one.
    pub original_price: Option<Amount>,
    /// ISO 4217 code of both prices.
    pub currency: String,
    /// When the price was last set.
    pub updated_at: Option<String>,
}

fn country_pricing(pricing: pb::RentalPricing) -> CountryPricing {
    let country = pricing.country.unwrap_or_default();
    let packages = pricing
        .packages
        .into_iter()
        .filter_map(|plan| {
            let price = plan.price.unwrap_or_default();
            Some(PackagePrice {
                number_type: Kind::of(plan.number_type)?,
                duration: Package::of(plan.duration)?,
                duration_label: Package::of(plan.duration)?.label(),
                original_price: plan.original_price.as_ref().map(|m| Amount::of(Some(m))),
                updated_at: reply::time(plan.update_time.as_ref()),
                price: Amount::of(Some(&price)),
                currency: price.currency_code,
            })
        })
        .collect();
    CountryPricing {
        country_code: country.code,
        country_name: country.name,
        packages,
    }
}

/// Every country with an active rental route, with its packages, in one
/// answer.
#[utoipa::path(
    get, path = "/v1/pricing", tag = "rentals",
    responses(
        (status = 200, body = Many<CountryPricing, reply::Count>),
    )
)]
pub async fn list_pricing(State(gateway): State<Gateway>, key: ApiKey) -> Result<Reply, ApiError> {
    let mut countries = Vec::new();
    let mut page_token = String::new();
    let mut quota = Default::default();
    for _ in 0..MAX_COUNTRY_PAGES {
        let (page, answered) = gateway
            .upstream()
            .catalog
            .clone()
            .list_rental_pricing(key.request(pb::ListRentalPricingRequest {
                service_code: String::new(),
                page_size: 300,
                page_token,
            }))
            .await
            .answer()?;
        quota = answered;
        countries.extend(page.countries.into_iter().map(country_pricing));
        page_token = page.next_page_token;
        if page_token.is_empty() {
            break;
        }
    }
    Ok(Reply::ok(&Many::complete(countries), quota))
}

/// One country's rental packages; 404 when it has no active route right
/// now (no plan, or no number in stock): a transient "out of stock".
#[utoipa::path(
    get, path = "/v1/pricing/{countryCode}", tag = "rentals",
    params(("countryCode" = String, Path, description = "ISO 3166-1 alpha-2, e.g. `GB`.")),
    responses(
        (status = 200, body = One<CountryPricing>),
        (status = 404, body = ErrorBody),
    )
)]
pub async fn get_pricing(
    State(gateway): State<Gateway>,
    key: ApiKey,
    Path(country_code): Path<String>,
) -> Result<Reply, ApiError> {
    let (pricing, quota) = gateway
        .upstream()
        .catalog
        .clone()
        .get_rental_pricing(key.request(pb::GetRentalPricingRequest {
            country_code,
            service_code: String::new(),
        }))
        .await
        .answer_with(|f| match f {
            "country_code" => "countryCode".into(),
            other => rest_field(other),
        })?;
    Ok(Reply::ok(&One::new(country_pricing(pricing)), quota))
}

/// Which route `/v1/inventory` counts.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InventoryParams {
    /// ISO 3166-1 alpha-2 code of the market. Required.
    pub country_code: Option<String>,
    /// A package key (see `/v1/pricing`); omit for the route's default
    /// (one month if sold, else the shortest).
    #[param(value_type = Option<String>, example = "oneMonth")]
    pub duration: Option<Package>,
    /// `voip` or `non_voip`; omit for the route's default (VoIP if sold).
    #[param(value_type = Option<String>, example = "voip")]
    pub number_type: Option<Kind>,
}

/// The live stock of one route.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Inventory {
    pub country_code: String,
    /// The package asked for, or the route's default.
    #[schema(value_type = String, example = "oneMonth")]
    pub duration: Package,
    /// The number type asked for, or the route's default.
    #[schema(value_type = String, example = "voip")]
    pub number_type: Kind,
    /// Numbers that can be rented right now.
    pub stock: i64,
    /// Whether a rental can be bought right now.
    pub available: bool,
    /// For people: `In Stock` or `Out of Stock`.
    pub status: &'static str,
}

/// Preflights a purchase: how many numbers of a route are in stock. The
/// purchase itself is the authoritative check.
#[utoipa::path(
    get, path = "/v1/inventory", tag = "rentals", params(InventoryParams),
    responses(
        (status = 200, body = One<Inventory>),
        (status = 404, body = ErrorBody),
    )
)]
pub async fn check_inventory(
    State(gateway): State<Gateway>,
    key: ApiKey,
    Params(params): Params<InventoryParams>,
) -> Result<Reply, ApiError> {
    let country_code = params
        .country_code
        .ok_or_else(|| ApiError::invalid("country_code", "is required"))?;
    let (status, quota) = gateway
        .upstream()
        .catalog
        .clone()
        .check_inventory(key.request(pb::CheckInventoryRequest {
            country_code,
            duration: params.duration.map_or(0, |p| p.0 as i32),
            number_type: params.number_type.map_or(0, |k| k.0 as i32),
        }))
        .await
        .answer()?;
    let (Some(duration), Some(number_type)) =
        (Package::of(status.duration), Kind::of(status.number_type))
    else {
        return Err(ApiError::from(tonic::Status::internal(
            "the catalog answered a route without a duration or type",
        )));
    };
    let inventory = Inventory {
        country_code: status.country_code,
        duration,
        number_type,
        stock: status.stock,
        available: status.available,
        status: if status.available {
            "In Stock"
        } else {
            "Out of Stock"
        },
    };
    Ok(Reply::ok(&One::new(inventory), quota))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_package_reads_back_from_its_key() {
        for (duration, key, _) in PACKAGES {
            let read: Package = serde_json::from_str(&format!("\"{key}\"")).unwrap();
            assert_eq!(read, Package(duration));
            assert_eq!(serde_json::to_string(&read).unwrap(), format!("\"{key}\""));
            assert_eq!(Package::of(duration as i32), Some(read));
        }
        assert_eq!(Package::of(0), None);
        let error = serde_json::from_str::<Package>("\"twoWeeks\"").unwrap_err();
        assert!(
            error.to_string().starts_with("must be one of oneDay,"),
            "{error}"
        );
        assert!(!error.to_string().contains("twoWeeks"));
    }

    #[test]
    fn number_types_read_and_write_their_keys() {
        let kind: Kind = serde_json::from_str("\"non_voip\"").unwrap();
        assert_eq!(kind, Kind(NumberType::NonVoip));
        assert_eq!(Kind::of(NumberType::Voip as i32).unwrap().key(), "voip");
        assert_eq!(Kind::of(0), None);
        assert!(serde_json::from_str::<Kind>("\"VOIP\"").is_err());
    }
}
