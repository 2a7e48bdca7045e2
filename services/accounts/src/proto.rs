//! The accounts service's protobuf conversions, in one place: requests into
//! their domain form (every field at fault at once, or checked values
//! only), and records into responses.

use numhub_auth::{RateLimits, Scopes};
use numhub_proto::accounts::v1 as pb;
use numhub_proto::common::v1::Scope;
use numhub_runtime::error::Violation;
use numhub_runtime::parse;
use numhub_runtime::validate::{self, Validator};

use crate::model::{Account, ApiKey, NewAccount, NewAccountApiKey, NewApiKey};

const MAX_NAME_LEN: usize = 200;
/// A list's default and largest page size.
pub const PAGE_SIZES: (u32, u32) = (50, 100);

impl TryFrom<pb::CreateApiKeyRequest> for NewApiKey {
    type Error = Vec<Violation>;

    fn try_from(r: pb::CreateApiKeyRequest) -> Result<Self, Self::Error> {
        let mut v = Validator::new();
        let name = v.check("name", name(&r.name));
        let scopes = v.check("scopes", scopes(&r.scopes));
        v.finish_with(|| {
            Some(NewApiKey {
                name: name?,
                scopes: scopes?,
            })
        })
    }
}

impl TryFrom<pb::CreateAccountApiKeyRequest> for NewAccountApiKey {
    type Error = Vec<Violation>;

    fn try_from(r: pb::CreateAccountApiKeyRequest) -> Result<Self, Self::Error> {
        let mut v = Validator::new();
        let account_id = v.check("account_id", parse::id(&r.account_id));
        let name = v.check("name", name(&r.name));
        let scopes = v.check("scopes", scopes(&r.scopes));
        v.finish_with(|| {
            Some(NewAccountApiKey {
                account_id: account_id?,
                key: NewApiKey {
                    name: name?,
                    scopes: scopes?,
                },
            })
        })
    }
}

impl TryFrom<pb::CreateAccountRequest> for NewAccount {
    type Error = Vec<Violation>;

    fn try_from(r: pb::CreateAccountRequest) -> Result<Self, Self::Error> {
        let mut v = Validator::new();
        let display_name = v.check("display_name", name(&r.display_name));
        let rate_limits = v.check("rate_limits", rate_limits(r.rate_limits.as_ref()));
        let request_id = v.check("request_id", validate::request_id(&r.request_id));
        v.finish_with(|| {
            Some(NewAccount {
                display_name: display_name?,
                rate_limits: rate_limits?,
                request_id: request_id?,
            })
        })
    }
}

/// GetAccount's account: `None`, when unset, for the caller's own.
pub fn own_or_other_account(value: &str) -> Result<Option<String>, Vec<Violation>> {
    if value.is_empty() {
        return Ok(None);
    }
    account_id(value).map(Some)
}

/// Ids are UUIDs; anything else names nothing, so it is a bad field.
pub fn account_id(value: &str) -> Result<String, Vec<Violation>> {
    parse::field("account_id", parse::id(value))
}

pub fn key_id(value: &str) -> Result<String, Vec<Violation>> {
    parse::field("api_key_id", parse::id(value))
}

fn name(value: &str) -> Result<String, String> {
    let value = validate::text(value, MAX_NAME_LEN)?;
    if value.trim().is_empty() {
        return Err("is required".into());
    }
    Ok(value)
}

fn scopes(values: &[i32]) -> Result<Scopes, String> {
    if values.is_empty() {
        return Err("at least one scope is required".into());
    }
    let mut set = Scopes::default();
    for &value in values {
        let scope = Scope::try_from(value)
            .ok()
            .filter(|s| *s != Scope::Unspecified)
            .ok_or_else(|| format!("{value} is not a scope"))?;
        if set.contains(scope) {
            return Err(format!("{} is listed twice", scope.as_str_name()));
        }
        set = set.with(scope);
    }
    Ok(set)
}

/// Unset or zero quotas mean the server's defaults.
fn rate_limits(limits: Option<&pb::RateLimits>) -> Result<Option<RateLimits>, String> {
    let Some(l) = limits else { return Ok(None) };
    match (l.requests_per_minute, l.money_requests_per_minute) {
        (0, 0) => Ok(None),
        (0, _) | (_, 0) => Err("set both quotas, or neither".into()),
        (all, money) if all > 1_000_000 || money > 1_000_000 => {
            Err("quotas are at most 1000000 per minute".into())
        }
        (all, money) => Ok(Some(RateLimits {
            requests_per_minute: all,
            money_requests_per_minute: money,
        })),
    }
}

pub fn rate_limits_to_proto(limits: RateLimits) -> pb::RateLimits {
    pb::RateLimits {
        requests_per_minute: limits.requests_per_minute,
        money_requests_per_minute: limits.money_requests_per_minute,
    }
}

pub fn scopes_to_proto(scopes: Scopes) -> Vec<i32> {
    scopes.to_vec().into_iter().map(i32::from).collect()
}

pub fn account_to_proto(account: Account) -> pb::Account {
    pb::Account {
        id: account.id,
        display_name: account.display_name,
        operator: account.operator,
        rate_limits: Some(rate_limits_to_proto(account.rate_limits)),
        create_time: Some(account.created_at.to_proto()),
    }
}

pub fn key_to_proto(key: ApiKey) -> pb::ApiKey {
    let state = if key.revoked_at.is_some() {
        pb::ApiKeyState::Revoked
    } else {
        pb::ApiKeyState::Active
    };
    pb::ApiKey {
        id: key.id,
        account_id: key.account_id,
        name: key.name,
        scopes: scopes_to_proto(key.scopes),
        prefix: key.display_prefix,
        state: state as i32,
        create_time: Some(key.created_at.to_proto()),
        last_use_time: key.last_used_at.map(|t| t.to_proto()),
        revoke_time: key.revoked_at.map(|t| t.to_proto()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_account_names_every_bad_field_at_once() {
        let bad = pb::CreateAccountRequest {
            display_name: " ".into(),
            rate_limits: Some(pb::RateLimits {
                requests_per_minute: 5,
                money_requests_per_minute: 0,
            }),
            request_id: String::new(),
        };
        let error = NewAccount::try_from(bad).unwrap_err();
        assert_eq!(
            Violation::fields(&error),
            ["display_name", "rate_limits", "request_id"]
        );
        let good = pb::CreateAccountRequest {
            display_name: "Acme".into(),
            rate_limits: None,
            request_id: "r-1".into(),
        };
        let account = NewAccount::try_from(good).unwrap();
        assert_eq!(account.rate_limits, None);
        assert_eq!(account.request_id, "r-1");
    }

    #[test]
    fn a_new_key_names_every_bad_field_at_once() {
        let bad = pb::CreateAccountApiKeyRequest {
            account_id: "acct-1".into(),
            name: String::new(),
            scopes: vec![Scope::Unspecified as i32],
        };
        let error = NewAccountApiKey::try_from(bad).unwrap_err();
        assert_eq!(Violation::fields(&error), ["account_id", "name", "scopes"]);
        let twice = pb::CreateApiKeyRequest {
            name: "ci".into(),
            scopes: vec![Scope::Read as i32, Scope::Read as i32],
        };
        assert_eq!(
            Violation::fields(&NewApiKey::try_from(twice).unwrap_err()),
            ["scopes"]
        );
    }

    #[test]
    fn get_account_reads_unset_as_the_callers_own() {
        assert_eq!(own_or_other_account(""), Ok(None));
        let id = "0192F0C1-7A2B-7C3D-8E4F-0123456789AB";
        assert_eq!(own_or_other_account(id), Ok(Some(id.to_lowercase())));
        assert_eq!(
            Violation::fields(&own_or_other_account("x").unwrap_err()),
            ["account_id"]
        );
    }
}
