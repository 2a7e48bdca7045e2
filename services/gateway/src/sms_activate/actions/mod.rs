//! The protocol's actions: each reads its parameters, calls the public
//! services as the caller, and writes its answer. A module per part of
//! numhub they speak for.

mod account;
mod activations;
mod catalog;
mod rent;

use numhub_proto::catalog::v1::catalog_service_client::CatalogServiceClient;
use numhub_proto::orders::v1::orders_service_client::OrdersServiceClient;
use numhub_proto::rentals::v1::rentals_service_client::RentalsServiceClient;
use numhub_proto::wallet::v1::wallet_service_client::WalletServiceClient;
use numhub_runtime::channel::Channel;
use tonic::Status;

use super::answer::{Answer, token};
use super::params::Params;
use super::refusal::{self, Family};
use crate::caller::ApiKey;
use crate::upstream::Upstream;

/// The actions numhub answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    GetBalance,
    GetNumber,
    GetNumberV2,
    SetStatus,
    GetStatus,
    GetStatusV2,
    GetActiveActivations,
    GetPrices,
    GetCountries,
    GetServicesList,
    GetOperators,
    GetNumbersStatus,
    GetRentServicesAndCountries,
    GetRentNumber,
    GetRentStatus,
    SetRentStatus,
    GetRentList,
    ContinueRentNumber,
}

impl Action {
    /// Each action by its protocol name.
    pub const ALL: &'static [(&'static str, Action)] = &[
        ("getBalance", Self::GetBalance),
        // numhub has no cashback: the same balance.
        ("getBalanceAndCashBack", Self::GetBalance),
        ("getNumber", Self::GetNumber),
        ("getNumberV2", Self::GetNumberV2),
        ("setStatus", Self::SetStatus),
        ("getStatus", Self::GetStatus),
        ("getStatusV2", Self::GetStatusV2),
        ("getActiveActivations", Self::GetActiveActivations),
        ("getPrices", Self::GetPrices),
        ("getCountries", Self::GetCountries),
        ("getServicesList", Self::GetServicesList),
        ("getOperators", Self::GetOperators),
        ("getNumbersStatus", Self::GetNumbersStatus),
        (
            "getRentServicesAndCountries",
            Self::GetRentServicesAndCountries,
        ),
        ("getRentNumber", Self::GetRentNumber),
        ("getRentStatus", Self::GetRentStatus),
        ("setRentStatus", Self::SetRentStatus),
        ("getRentList", Self::GetRentList),
        ("continueRentNumber", Self::ContinueRentNumber),
    ];

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, action)| *action)
    }

    /// How its refusals read (see [`refusal`]).
    pub fn family(self) -> Family {
        use Action::*;
        match self {
            GetNumber | GetNumberV2 => Family::Buy,
            SetStatus | GetStatus | GetStatusV2 => Family::Activation,
            GetBalance | GetActiveActivations | GetPrices | GetCountries | GetServicesList
            | GetOperators | GetNumbersStatus => Family::Read,
            GetRentNumber => Family::RentBuy,
            GetRentStatus | SetRentStatus | GetRentList | ContinueRentNumber => Family::Rental,
            GetRentServicesAndCountries => Family::RentRead,
        }
    }
}

/// Answers one request: its action, made with its key.
pub async fn run(upstream: &Upstream, params: &Params) -> Answer {
    let Some(action) = params.get("action").and_then(Action::parse) else {
        return Answer::token(token::BAD_ACTION);
    };
    let family = action.family();
    let Some(key) = params.get("api_key").and_then(|k| ApiKey::new(k).ok()) else {
        return refusal::answer(token::BAD_KEY, family);
    };
    let caller = Caller {
        upstream: upstream.clone(),
        key,
        family,
    };
    let outcome = match action {
        Action::GetBalance => account::get_balance(&caller).await,
        Action::GetNumber => activations::get_number(&caller, params, false).await,
        Action::GetNumberV2 => activations::get_number(&caller, params, true).await,
        Action::SetStatus => activations::set_status(&caller, params).await,
        Action::GetStatus => activations::get_status(&caller, params).await,
        Action::GetStatusV2 => activations::get_status_v2(&caller, params).await,
        Action::GetActiveActivations => activations::get_active_activations(&caller).await,
        Action::GetPrices => catalog::get_prices(&caller, params).await,
        Action::GetCountries => catalog::get_countries(&caller).await,
        Action::GetServicesList => catalog::get_services_list(&caller, params).await,
        Action::GetOperators => catalog::get_operators(&caller, params).await,
        Action::GetNumbersStatus => catalog::get_numbers_status(&caller, params).await,
        Action::GetRentServicesAndCountries => {
            rent::get_rent_services_and_countries(&caller, params).await
        }
        Action::GetRentNumber => rent::get_rent_number(&caller, params).await,
        Action::GetRentStatus => rent::get_rent_status(&caller, params).await,
        Action::SetRentStatus => rent::set_rent_status(&caller, params).await,
        Action::GetRentList => rent::get_rent_list(&caller, params).await,
        Action::ContinueRentNumber => rent::continue_rent_number(&caller, params).await,
    };
    outcome.unwrap_or_else(|refused| refused)
}

/// An action's outcome: its answer, or the answer of a refusal.
type Outcome = Result<Answer, Answer>;

/// Who calls, and the services called on their behalf.
struct Caller {
    upstream: Upstream,
    key: ApiKey,
    family: Family,
}

impl Caller {
    fn wallet(&self) -> WalletServiceClient<Channel> {
        self.upstream.wallet.clone()
    }

    fn catalog(&self) -> CatalogServiceClient<Channel> {
        self.upstream.catalog.clone()
    }

    fn orders(&self) -> OrdersServiceClient<Channel> {
        self.upstream.orders.clone()
    }

    fn rentals(&self) -> RentalsServiceClient<Channel> {
        self.upstream.rentals.clone()
    }

    /// `message` as a request on the caller's behalf.
    fn request<T>(&self, message: T) -> tonic::Request<T> {
        self.key.request(message)
    }

    /// A refusal of this action's family, by its token.
    fn refuse(&self, token: &str) -> Answer {
        refusal::answer(token, self.family)
    }

    /// A service's refusal as this action's answer.
    fn refusal(&self, status: &Status) -> Answer {
        refusal::refuse(status, self.family)
    }

    /// A service's answer, or its refusal as this action's answer.
    fn answer<T>(&self, result: Result<tonic::Response<T>, Status>) -> Result<T, Answer> {
        result
            .map(tonic::Response::into_inner)
            .map_err(|status| self.refusal(&status))
    }
}

/// A fresh idempotency key for a purchase: the protocol has none, so each
/// HTTP request is a new purchase, as it is with SMS-Activate.
fn request_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// An id the protocol sends (`id=1482`): a positive integer, passed to the
/// services as the numeric id their requests accept in decimal.
fn numeric_id(params: &Params, name: &str) -> Option<String> {
    match params.integer(name) {
        Some(Ok(id)) if id > 0 => Some(id.to_string()),
        _ => None,
    }
}

/// The country a request names by its SMS-Activate id (`country=187`):
/// 0 when absent, as the protocol has it; `None` when it is not a number.
fn country_id(params: &Params) -> Option<i32> {
    match params.integer("country") {
        None => Some(0),
        Some(Ok(id)) => i32::try_from(id).ok(),
        Some(Err(())) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_parses_by_its_name() {
        for (name, action) in Action::ALL {
            assert_eq!(Action::parse(name), Some(*action));
        }
        assert_eq!(Action::parse("getbalance"), None);
        assert_eq!(Action::parse("getFullSms"), None);
    }

    #[test]
    fn ids_are_positive_integers_and_the_country_defaults_to_0() {
        let params = |q: &str| Params::read(Some(q), &http::HeaderMap::new(), b"");
        assert_eq!(numeric_id(&params("id=1482"), "id"), Some("1482".into()));
        for bad in [
            "id=0",
            "id=-3",
            "id=abc",
            "id=1.5",
            "",
            "id=99999999999999999999",
        ] {
            assert_eq!(numeric_id(&params(bad), "id"), None, "{bad}");
        }
        assert_eq!(country_id(&params("")), Some(0));
        assert_eq!(country_id(&params("country=187")), Some(187));
        assert_eq!(country_id(&params("country=us")), None);
    }
}
