//! The protocol's actions: each reads its parameters, calls the public
//! services as the caller, and writes its answer. A module per part of
//! numhub they speak for.

mod account;
mod catalog;
mod rent;

use numhub_proto::catalog::v1::catalog_service_client::CatalogServiceClient;
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
    GetPrices,
    GetCountries,
    GetServicesList,
    GetOperators,
    GetNumbersStatus,
    GetRentServicesAndCountries,
}

impl Action {
    /// Each action by its protocol name.
    pub const ALL: &'static [(&'static str, Action)] = &[
        ("getBalance", Self::GetBalance),
        // numhub has no cashback: the same balance.
        ("getBalanceAndCashBack", Self::GetBalance),
        ("getPrices", Self::GetPrices),
        ("getCountries", Self::GetCountries),
        ("getServicesList", Self::GetServicesList),
        ("getOperators", Self::GetOperators),
        ("getNumbersStatus", Self::GetNumbersStatus),
        (
            "getRentServicesAndCountries",
            Self::GetRentServicesAndCountries,
        ),
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
            GetBalance | GetPrices | GetCountries | GetServicesList | GetOperators
            | GetNumbersStatus => Family::Read,
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
        Action::GetPrices => catalog::get_prices(&caller, params).await,
        Action::GetCountries => catalog::get_countries(&caller).await,
        Action::GetServicesList => catalog::get_services_list(&caller, params).await,
        Action::GetOperators => catalog::get_operators(&caller, params).await,
        Action::GetNumbersStatus => catalog::get_numbers_status(&caller, params).await,
        Action::GetRentServicesAndCountries => {
            rent::get_rent_services_and_countries(&caller, params).await
        }
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
    fn the_country_defaults_to_0() {
        let params = |q: &str| Params::read(Some(q), &http::HeaderMap::new(), b"");
        assert_eq!(country_id(&params("")), Some(0));
        assert_eq!(country_id(&params("country=187")), Some(187));
        assert_eq!(country_id(&params("country=us")), None);
    }
}
