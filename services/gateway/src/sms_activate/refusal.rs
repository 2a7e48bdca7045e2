//! numhub's refusals as the protocol's error tokens: one table, read by
//! every action.
//!
//! A service refuses with a gRPC status whose `ErrorInfo` carries a stable
//! reason (see numhub/common/v1/conventions.proto and each service's
//! contract). The same reason can mean different things to the protocol:
//! RESOURCE_NOT_FOUND is an unknown service to `getNumber` (the gateway
//! resolves the country itself) but an unknown id to `getStatus`, so the
//! table is keyed by the reason, the field at fault for INVALID_FIELD, and
//! the [`Family`] of the action. A reason the table does not name is a
//! failure on numhub's side: `ERROR_SQL`, the protocol's one token for it
//! (`SERVER_ERROR` for the rent actions), which clients retry. The rent
//! actions answer their token as the `message` of a JSON error.

use tonic::{Code, Status};
use tonic_types::StatusExt as _;

use super::answer::{Answer, token};

/// What kind of action a refusal answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// `getNumber`, `getNumberV2`: a purchase.
    Buy,
    /// `setStatus`, `getStatus`, `getStatusV2`: one activation by its id.
    Activation,
    /// `getBalance`, the catalog's reads, `getActiveActivations`.
    Read,
    /// `getRentNumber`: a rental's purchase.
    RentBuy,
    /// `getRentStatus`, `setRentStatus`, `continueRentNumber`,
    /// `getRentList`: rentals by id.
    Rental,
    /// `getRentServicesAndCountries`: rental prices and stock.
    RentRead,
}

use Family::{Activation, Buy, Read, RentBuy, RentRead, Rental};

const ALL: &[Family] = &[Buy, Activation, Read, RentBuy, Rental, RentRead];
const RENT: &[Family] = &[RentBuy, Rental, RentRead];
const NOT_RENT: &[Family] = &[Buy, Activation, Read];

/// One row: a reason (and, for INVALID_FIELD, the field at fault) refused
/// to any of `families` answers `token`.
struct Row {
    reason: &'static str,
    field: Option<&'static str>,
    families: &'static [Family],
    token: &'static str,
}

const fn row(reason: &'static str, families: &'static [Family], token: &'static str) -> Row {
    Row {
        reason,
        field: None,
        families,
        token,
    }
}

const fn field(name: &'static str, families: &'static [Family], token: &'static str) -> Row {
    Row {
        reason: INVALID_FIELD,
        field: Some(name),
        families,
        token,
    }
}

const INVALID_FIELD: &str = "INVALID_FIELD";

/// The table. Reasons come from the auth layer (crates/auth), the shared
/// conventions (crates/runtime), and the catalog, wallet, orders and
/// rentals contracts.
#[rustfmt::skip]
const REFUSALS: &[Row] = &[
    // Who is calling; a key without the write scope may not buy nor
    // change anything.
    row("MISSING_CREDENTIAL",      ALL,                   token::BAD_KEY),
    row("INVALID_API_KEY",         ALL,                   token::BAD_KEY),
    row("MISSING_SCOPE",           ALL,                   token::BAD_KEY),
    // What the request names.
    row("RESOURCE_NOT_FOUND",      &[Buy, Read, RentBuy], token::BAD_SERVICE),
    row("RESOURCE_NOT_FOUND",      &[Activation],         token::NO_ACTIVATION),
    row("RESOURCE_NOT_FOUND",      &[Rental],             token::NO_ID_RENT),
    row("RESOURCE_NOT_FOUND",      &[RentRead],           token::OUT_OF_STOCK),
    field("service_code",          ALL,                   token::BAD_SERVICE),
    field("country_code",          ALL,                   token::BAD_COUNTRY),
    field("operator",              &[Buy],                token::BAD_OPERATOR),
    field("max_price",             &[Buy],                token::WRONG_MAX_PRICE),
    field("id",                    &[Activation],         token::NO_ACTIVATION),
    field("id",                    &[Rental],             token::NO_ID_RENT),
    // A purchase; the gateway appends the lowest price to WRONG_MAX_PRICE.
    row("NO_NUMBERS_AVAILABLE",    &[Buy, RentBuy],       token::NO_NUMBERS),
    row("NOT_OFFERED",             &[Buy, RentBuy],       token::NO_NUMBERS),
    row("PRICE_ABOVE_MAX",         &[Buy],                token::WRONG_MAX_PRICE),
    row("INSUFFICIENT_BALANCE",    &[Buy, RentBuy, Rental], token::NO_BALANCE),
    row("OPEN_ACTIVATION_LIMIT",   &[Buy],                token::CHANNELS_LIMIT),
    // An activation's status.
    row("EARLY_CANCEL_DENIED",     &[Activation],         token::EARLY_CANCEL_DENIED),
    row("SMS_ALREADY_RECEIVED",    &[Activation],         token::BAD_STATUS),
    row("NO_SMS_RECEIVED",         &[Activation],         token::BAD_STATUS),
    row("ACTIVATION_ENDED",        &[Activation],         token::BAD_STATUS),
    // A rental's: a package not sold, a renewal of an ended rental.
    row("NOT_OFFERED",             &[Rental],             token::INVALID_TIME),
    row("NUMBER_EXPIRED",          &[Rental],             token::RENT_DIE),
    row("RENTAL_ENDED",            &[Rental],             token::ALREADY_FINISH),
    // numhub's side: retry. Named here so that the table is whole; any
    // other reason reads the same.
    row("RATE_LIMITED",            NOT_RENT,              token::ERROR_SQL),
    row("RATE_LIMITED",            RENT,                  token::SERVER_ERROR),
    row("REQUEST_IN_PROGRESS",     NOT_RENT,              token::ERROR_SQL),
    row("REQUEST_IN_PROGRESS",     RENT,                  token::SERVER_ERROR),
    row("PURCHASE_TIMED_OUT",      NOT_RENT,              token::ERROR_SQL),
    row("PURCHASE_TIMED_OUT",      RENT,                  token::SERVER_ERROR),
    row("TEMPORARILY_UNAVAILABLE", NOT_RENT,              token::ERROR_SQL),
    row("TEMPORARILY_UNAVAILABLE", RENT,                  token::SERVER_ERROR),
    row("INTERNAL_ERROR",          NOT_RENT,              token::ERROR_SQL),
    row("INTERNAL_ERROR",          RENT,                  token::SERVER_ERROR),
];

/// The token a refusal means to an action of `family`.
pub fn token_of(status: &Status, family: Family) -> &'static str {
    let details = status.get_error_details();
    let reason = match (status.code(), details.error_info()) {
        // The auth layer's refusals, and a key the transport refused.
        (Code::Unauthenticated, _) => "INVALID_API_KEY",
        (_, Some(info)) => info.reason.as_str(),
        (_, None) => "",
    };
    let fields: Vec<&str> = details
        .bad_request()
        .map(|b| {
            b.field_violations
                .iter()
                .map(|v| v.field.as_str())
                .collect()
        })
        .unwrap_or_default();
    lookup(reason, &fields, family)
}

/// The token of `reason` (a purchase's `failure_reason`) to `family`.
pub fn token_for(reason: &str, family: Family) -> &'static str {
    lookup(reason, &[], family)
}

fn lookup(reason: &str, fields: &[&str], family: Family) -> &'static str {
    REFUSALS
        .iter()
        .find(|row| {
            row.reason == reason
                && row.families.contains(&family)
                && row.field.is_none_or(|f| fields.contains(&f))
        })
        .map_or_else(|| server_error(family), |row| row.token)
}

/// The token of a failure on numhub's side.
pub fn server_error(family: Family) -> &'static str {
    if RENT.contains(&family) {
        token::SERVER_ERROR
    } else {
        token::ERROR_SQL
    }
}

/// A refusal's token as the answer of an action of `family`.
pub fn answer(token: &str, family: Family) -> Answer {
    if RENT.contains(&family) {
        Answer::rent_error(token)
    } else {
        Answer::token(token)
    }
}

/// A service's refusal as the answer of an action of `family`.
pub fn refuse(status: &Status, family: Family) -> Answer {
    answer(token_of(status, family), family)
}

#[cfg(test)]
mod tests {
    use numhub_runtime::error::{Failure, Refusal, Violation};

    use super::*;

    fn refused(reason: &str) -> Status {
        Failure::Refused(Refusal::new(reason, "no")).into()
    }

    #[test]
    fn one_reason_reads_by_the_family_of_the_action() {
        let not_found = Status::from(Failure::not_found("activation", "1482"));
        assert_eq!(token_of(&not_found, Buy), "BAD_SERVICE");
        assert_eq!(token_of(&not_found, Activation), "NO_ACTIVATION");
        assert_eq!(token_of(&not_found, Rental), "NO_ID_RENT");
        assert_eq!(token_of(&not_found, RentRead), "OUT_OF_STOCK");
        let short = refused("INSUFFICIENT_BALANCE");
        assert_eq!(token_of(&short, Buy), "NO_BALANCE");
        assert_eq!(token_of(&short, Rental), "NO_BALANCE");
        assert_eq!(
            refuse(&short, RentBuy).text(),
            r#"{"status":"error","message":"NO_BALANCE"}"#
        );
        assert_eq!(refuse(&short, Buy).text(), "NO_BALANCE");
    }

    #[test]
    fn an_invalid_field_reads_by_the_field() {
        let invalid = |field: &str| -> Status {
            Failure::Invalid(vec![Violation::new(field, "is not valid")]).into()
        };
        assert_eq!(token_of(&invalid("service_code"), Buy), "BAD_SERVICE");
        assert_eq!(token_of(&invalid("service_code"), RentBuy), "BAD_SERVICE");
        assert_eq!(token_of(&invalid("id"), Activation), "NO_ACTIVATION");
        assert_eq!(token_of(&invalid("id"), Rental), "NO_ID_RENT");
        assert_eq!(token_of(&invalid("page_token"), Read), "ERROR_SQL");
    }

    #[test]
    fn keys_and_failures_on_numhubs_side() {
        assert_eq!(token_of(&Status::unauthenticated("no"), Read), "BAD_KEY");
        assert_eq!(token_of(&Status::unauthenticated("no"), Rental), "BAD_KEY");
        let denied: Status = Failure::Denied(Refusal::new("MISSING_SCOPE", "read only")).into();
        assert_eq!(token_of(&denied, Buy), "BAD_KEY");
        assert_eq!(token_of(&Status::internal("boom"), Buy), "ERROR_SQL");
        assert_eq!(
            token_of(&Status::unavailable("down"), RentBuy),
            "SERVER_ERROR"
        );
        assert_eq!(token_of(&refused("SOMETHING_NEW"), Activation), "ERROR_SQL");
    }

    #[test]
    fn every_row_names_a_known_family_once_per_reason_and_field() {
        for (i, a) in REFUSALS.iter().enumerate() {
            for b in &REFUSALS[i + 1..] {
                let overlap = a.families.iter().any(|f| b.families.contains(f));
                assert!(
                    !(a.reason == b.reason && a.field == b.field && overlap),
                    "{} {:?} twice for one family",
                    a.reason,
                    a.field
                );
            }
        }
    }
}
