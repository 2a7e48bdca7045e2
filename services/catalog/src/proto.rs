//! The catalog's protobuf conversions, in one place: requests into their
//! domain form (every field at fault at once, or checked values only), and
//! records into responses.

use numhub_proto::catalog::v1 as pb;
use numhub_runtime::clock::Timestamp;
use numhub_runtime::error::Violation;
use numhub_runtime::money;
use numhub_runtime::parse;
use numhub_runtime::tokens::{self, PageTokens, TokenScope};
use numhub_runtime::validate::{self, Validator};

use crate::codes;
use crate::listing::parse_price_cursor;
use crate::model::{
    ActivationPrice, ArrivalTime, CodePage, Country, CountryOffer, CountryPage, Extension,
    ImportProblem, ImportReport, InventoryQuery, InventoryStatus, Lease, LeaseKind, LeasePage,
    LeaseSpec, LeaseState, NewActivationPrice, NewRentalPlan, NumberImport, NumberPage,
    NumberState, NumberType, Operator, PhoneNumber, PlanKey, PriceKey, PricePage, PricingQuery,
    RentalDuration, RentalPlan, RentalPricing, Resolution, Service, Skip,
};
use crate::phone;

/// Longest account, holder or lease id accepted.
const MAX_ID_LEN: usize = 255;
const MAX_NAME_LEN: usize = 200;
const MAX_DOMAIN_LEN: usize = 253;
/// The longest arrival time RecordArrival takes.
const MAX_ARRIVAL_SECONDS: i64 = 24 * 3600;

// Lists. Their page tokens are signed for a scope the handler makes, which
// it signs the next page's token for too.

/// ListServices.
pub fn service_page(
    tokens: &PageTokens,
    scope: &TokenScope,
    r: &pb::ListServicesRequest,
) -> Result<CodePage, Vec<Violation>> {
    let mut v = Validator::new();
    let page = code_page(
        &mut v,
        tokens,
        scope,
        (r.page_size, &r.page_token),
        (500, 1000),
        codes::service,
    );
    v.finish_with(|| page)
}

/// ListCountries and ListRentalPricing, which page the same way.
pub fn country_page(
    tokens: &PageTokens,
    scope: &TokenScope,
    (service_code, page_size, page_token): (&str, i32, &str),
) -> Result<CountryPage, Vec<Violation>> {
    let mut v = Validator::new();
    let service = v.check("service_code", codes::optional_service(service_code));
    let page = code_page(
        &mut v,
        tokens,
        scope,
        (page_size, page_token),
        (300, 300),
        codes::country,
    );
    v.finish_with(|| {
        Some(CountryPage {
            service_code: service?,
            page: page?,
        })
    })
}

/// A page of a list ordered by code: `page_size` and a `page_token` whose
/// cursor is a code of the list's kind, checked with `check`.
fn code_page(
    v: &mut Validator,
    tokens: &PageTokens,
    scope: &TokenScope,
    (page_size, page_token): (i32, &str),
    (default, max): (u32, u32),
    check: fn(&str) -> Result<String, String>,
) -> Option<CodePage> {
    let size = v.check("page_size", validate::page_size(page_size, default, max));
    let after = v.check(
        "page_token",
        match tokens.decode(scope, page_token) {
            Ok(None) => Ok(String::new()),
            Ok(Some(cursor)) => check(&cursor).map_err(|_| tokens::INVALID.to_owned()),
            Err(error) => Err(error),
        },
    );
    Some(CodePage {
        size: size?,
        after: after?,
    })
}

/// ListPrices.
pub fn price_page(
    tokens: &PageTokens,
    scope: &TokenScope,
    r: &pb::ListPricesRequest,
) -> Result<PricePage, Vec<Violation>> {
    let mut v = Validator::new();
    let service = v.check("service_code", codes::optional_service(&r.service_code));
    let country = v.check("country_code", codes::optional_country(&r.country_code));
    let size = v.check("page_size", validate::page_size(r.page_size, 500, 1000));
    let after = v.check(
        "page_token",
        tokens
            .decode(scope, &r.page_token)
            .and_then(|cursor| match cursor {
                None => Ok(Default::default()),
                Some(c) => parse_price_cursor(&c).ok_or_else(|| tokens::INVALID.to_string()),
            }),
    );
    v.finish_with(|| {
        Some(PricePage {
            service_code: service?,
            country_code: country?,
            size: size?,
            after: after?,
        })
    })
}

/// ListNumbers.
pub fn number_page(
    tokens: &PageTokens,
    scope: &TokenScope,
    r: &pb::ListNumbersRequest,
) -> Result<NumberPage, Vec<Violation>> {
    let mut v = Validator::new();
    let country = v.check("country_code", codes::optional_country(&r.country_code));
    let page = parse::check_page(
        &mut v,
        tokens,
        scope,
        (r.page_size, &r.page_token),
        (100, 1000),
    );
    v.finish_with(|| {
        let page = page?;
        Some(NumberPage {
            country_code: country?,
            size: page.size,
            before: page.cursor,
        })
    })
}

impl TryFrom<pb::ListActiveLeasesRequest> for LeasePage {
    type Error = Vec<Violation>;

    fn try_from(r: pb::ListActiveLeasesRequest) -> Result<Self, Self::Error> {
        let mut v = Validator::new();
        let after = match r.after_lease_id.as_str() {
            "" => Some(None),
            id => v.check("after_lease_id", parse::id(id)).map(Some),
        };
        let size = v.check("page_size", validate::page_size(r.page_size, 100, 1000));
        v.finish_with(|| {
            Some(LeasePage {
                after: after?,
                size: size?,
            })
        })
    }
}

// Queries and changes.

impl TryFrom<pb::GetRentalPricingRequest> for PricingQuery {
    type Error = Vec<Violation>;

    fn try_from(r: pb::GetRentalPricingRequest) -> Result<Self, Self::Error> {
        let mut v = Validator::new();
        let country = v.check("country_code", codes::country(&r.country_code));
        let service = v.check("service_code", codes::optional_service(&r.service_code));
        v.finish_with(|| {
            Some(PricingQuery {
                country_code: country?,
                service_code: service?,
            })
        })
    }
}

impl TryFrom<pb::CheckInventoryRequest> for InventoryQuery {
    type Error = Vec<Violation>;

    fn try_from(r: pb::CheckInventoryRequest) -> Result<Self, Self::Error> {
        let mut v = Validator::new();
        let country = v.check("country_code", codes::country(&r.country_code));
        let duration = v.check("duration", optional_duration(r.duration));
        let number_type = v.check("number_type", optional_number_type(r.number_type));
        v.finish_with(|| {
            Some(InventoryQuery {
                country_code: country?,
                duration: duration?,
                number_type: number_type?,
            })
        })
    }
}

impl TryFrom<pb::UpsertServiceRequest> for Service {
    type Error = Vec<Violation>;

    fn try_from(r: pb::UpsertServiceRequest) -> Result<Self, Self::Error> {
        // Unset, it reads as empty: each of its required fields is named.
        let s = r.service.unwrap_or_default();
        let mut v = Validator::new();
        let code = v.check("service.code", codes::service(&s.code));
        let name = v.check("service.name", name(&s.name));
        let domain = v.check("service.domain", domain(&s.domain));
        v.finish_with(|| {
            Some(Service {
                code: code?,
                name: name?,
                domain: domain?,
                disabled: s.disabled,
            })
        })
    }
}

impl TryFrom<pb::UpsertCountryRequest> for Country {
    type Error = Vec<Violation>;

    fn try_from(r: pb::UpsertCountryRequest) -> Result<Self, Self::Error> {
        let c = r.country.unwrap_or_default();
        let mut v = Validator::new();
        let code = v.check("country.code", codes::country(&c.code));
        let name = v.check("country.name", name(&c.name));
        let dial_prefix = v.check("country.dial_prefix", codes::dial_prefix(&c.dial_prefix));
        if c.activate_id < 0 {
            v.violation("country.activate_id", "must not be negative");
        }
        v.finish_with(|| {
            Some(Country {
                code: code?,
                name: name?,
                dial_prefix: dial_prefix?,
                activate_id: c.activate_id,
                disabled: c.disabled,
            })
        })
    }
}

impl TryFrom<pb::UpsertOperatorRequest> for Operator {
    type Error = Vec<Violation>;

    fn try_from(r: pb::UpsertOperatorRequest) -> Result<Self, Self::Error> {
        let o = r.operator.unwrap_or_default();
        let mut v = Validator::new();
        let country = v.check("operator.country_code", codes::country(&o.country_code));
        let code = v.check("operator.code", codes::operator(&o.code));
        let name = v.check("operator.name", name(&o.name));
        v.finish_with(|| {
            Some(Operator {
                country_code: country?,
                code: code?,
                name: name?,
                disabled: o.disabled,
            })
        })
    }
}

/// ListOperators' country.
pub fn operators_country(r: &pb::ListOperatorsRequest) -> Result<String, Vec<Violation>> {
    parse::field("country_code", codes::country(&r.country_code))
}

/// An activation price's key, checked into `v`.
fn price_key(
    v: &mut Validator,
    service_code: &str,
    country_code: &str,
    operator: &str,
) -> Option<PriceKey> {
    let service = v.check("service_code", codes::service(service_code));
    let country = v.check("country_code", codes::country(country_code));
    let operator = v.check("operator", codes::optional_operator(operator));
    Some(PriceKey {
        service_code: service?,
        country_code: country?,
        operator: operator?,
    })
}

impl TryFrom<pb::SetActivationPriceRequest> for NewActivationPrice {
    type Error = Vec<Violation>;

    fn try_from(r: pb::SetActivationPriceRequest) -> Result<Self, Self::Error> {
        let mut v = Validator::new();
        let key = price_key(&mut v, &r.service_code, &r.country_code, &r.operator);
        let price = v.check("price", money::positive(r.price.as_ref()));
        v.finish_with(|| {
            let (price, currency) = price?;
            Some(NewActivationPrice {
                key: key?,
                price,
                currency,
            })
        })
    }
}

impl TryFrom<pb::DeleteActivationPriceRequest> for PriceKey {
    type Error = Vec<Violation>;

    fn try_from(r: pb::DeleteActivationPriceRequest) -> Result<Self, Self::Error> {
        let mut v = Validator::new();
        let key = price_key(&mut v, &r.service_code, &r.country_code, &r.operator);
        v.finish_with(|| key)
    }
}

/// A rental plan's key, checked into `v`.
fn plan_key(
    v: &mut Validator,
    country_code: &str,
    number_type: i32,
    service_code: &str,
    duration: i32,
) -> Option<PlanKey> {
    let country = v.check("country_code", codes::country(country_code));
    let number_type = v.check("number_type", required_number_type(number_type));
    let service = v.check("service_code", codes::optional_service(service_code));
    let duration = v.check("duration", required_duration(duration));
    Some(PlanKey {
        country_code: country?,
        number_type: number_type?,
        service_code: service?,
        duration: duration?,
    })
}

impl TryFrom<pb::SetRentalPlanRequest> for NewRentalPlan {
    type Error = Vec<Violation>;

    fn try_from(r: pb::SetRentalPlanRequest) -> Result<Self, Self::Error> {
        let mut v = Validator::new();
        let key = plan_key(
            &mut v,
            &r.country_code,
            r.number_type,
            &r.service_code,
            r.duration,
        );
        let price = v.check("price", money::positive(r.price.as_ref()));
        let original = v.check(
            "original_price",
            r.original_price
                .as_ref()
                .map(|m| money::positive(Some(m)))
                .transpose(),
        );
        if let (Some((price, _)), Some(Some((original, _)))) = (&price, &original)
            && original < price
        {
            v.violation("original_price", "must not be less than price");
        }
        v.finish_with(|| {
            let (price, currency) = price?;
            Some(NewRentalPlan {
                key: key?,
                price,
                original_price: original?,
                currency,
            })
        })
    }
}

impl TryFrom<pb::DeleteRentalPlanRequest> for PlanKey {
    type Error = Vec<Violation>;

    fn try_from(r: pb::DeleteRentalPlanRequest) -> Result<Self, Self::Error> {
        let mut v = Validator::new();
        let key = plan_key(
            &mut v,
            &r.country_code,
            r.number_type,
            &r.service_code,
            r.duration,
        );
        v.finish_with(|| key)
    }
}

impl TryFrom<pb::QuoteRentalRequest> for PlanKey {
    type Error = Vec<Violation>;

    fn try_from(r: pb::QuoteRentalRequest) -> Result<Self, Self::Error> {
        let mut v = Validator::new();
        let key = plan_key(
            &mut v,
            &r.country_code,
            r.number_type,
            &r.service_code,
            r.duration,
        );
        v.finish_with(|| key)
    }
}

/// ImportNumbers' rows, as the operator sent them: each row is checked by
/// the import, which reports the ones it leaves out.
pub fn import_rows(r: pb::ImportNumbersRequest) -> Result<Vec<NumberImport>, Vec<Violation>> {
    let max = crate::inventory::MAX_IMPORT_ROWS;
    if r.numbers.is_empty() || r.numbers.len() > max {
        return Err(vec![Violation::new(
            "numbers",
            format!("must hold 1 to {max} rows"),
        )]);
    }
    Ok(r.numbers
        .into_iter()
        .map(|n| NumberImport {
            number_type: optional_number_type(n.number_type).ok().flatten(),
            phone_number: n.phone_number,
            country_code: n.country_code,
            operator: n.operator,
            source: n.source,
        })
        .collect())
}

/// LeaseNumber's fields, parsed together; a price limit must be in
/// `currency`, the catalog's.
pub fn lease_spec(r: pb::LeaseNumberRequest, currency: &str) -> Result<LeaseSpec, Vec<Violation>> {
    let mut v = Validator::new();
    let kind = match pb::LeaseKind::try_from(r.kind) {
        Ok(pb::LeaseKind::Activation) => Some(LeaseKind::Activation),
        Ok(pb::LeaseKind::Rental) => Some(LeaseKind::Rental),
        _ => {
            v.violation("kind", "must be ACTIVATION or RENTAL");
            None
        }
    };
    let account_id = v.check(
        "account_id",
        validate::identifier(&r.account_id, MAX_ID_LEN),
    );
    let holder_id = v.check("holder_id", validate::identifier(&r.holder_id, MAX_ID_LEN));
    let country = v.check("country_code", codes::country(&r.country_code));
    let service = v.check("service_code", codes::optional_service(&r.service_code));
    let operator = v.check("operator", codes::optional_operator(&r.operator));
    let number_type = v.check("number_type", optional_number_type(r.number_type));
    let duration = v.check("rental_duration", optional_duration(r.rental_duration));
    let max_price = v.check(
        "max_price",
        r.max_price
            .as_ref()
            .map(|m| {
                let (units, code) = money::positive(Some(m))?;
                match code {
                    Some(code) if code != currency => Err(format!(
                        "currency_code must be {currency}, the catalog's currency"
                    )),
                    _ => Ok(units),
                }
            })
            .transpose(),
    );
    let expires_at = v.check("expire_time", parse::time(r.expire_time.as_ref()));
    let request_id = v.check("request_id", validate::request_id(&r.request_id));
    let phone_number = if r.phone_number.is_empty() {
        Some(None)
    } else {
        v.check("phone_number", phone::normalize(&r.phone_number))
            .map(Some)
    };
    match kind {
        Some(LeaseKind::Activation) => {
            if matches!(service, Some(None)) {
                v.violation("service_code", "is required for an activation");
            }
            if matches!(duration, Some(Some(_))) {
                v.violation("rental_duration", "must be unset for an activation");
            }
        }
        Some(LeaseKind::Rental) => {
            if matches!(phone_number, Some(Some(_))) {
                v.violation("phone_number", "is only for an activation's reuse");
            }
            if matches!(number_type, Some(None)) {
                v.violation("number_type", "is required for a rental");
            }
            if matches!(duration, Some(None)) {
                v.violation("rental_duration", "is required for a rental");
            }
        }
        None => {}
    }
    v.finish_with(|| {
        Some(LeaseSpec {
            kind: kind?,
            account_id: account_id?,
            holder_id: holder_id?,
            country_code: country?,
            service_code: service?,
            operator: operator?,
            number_type: number_type?,
            rental_duration: duration?,
            max_price: max_price?,
            expires_at: expires_at?,
            request_id: request_id?,
            phone_number: phone_number?,
        })
    })
}

/// GetLease's and Release's lease.
pub fn lease_id(value: &str) -> Result<String, Vec<Violation>> {
    parse::field("lease_id", parse::id(value))
}

impl TryFrom<pb::ExtendRequest> for Extension {
    type Error = Vec<Violation>;

    fn try_from(r: pb::ExtendRequest) -> Result<Self, Self::Error> {
        let mut v = Validator::new();
        let id = v.check("lease_id", parse::id(&r.lease_id));
        let until = v.check("expire_time", parse::time(r.expire_time.as_ref()));
        v.finish_with(|| {
            Some(Extension {
                lease_id: id?,
                until: until?,
            })
        })
    }
}

impl TryFrom<pb::MarkSkippedRequest> for Skip {
    type Error = Vec<Violation>;

    fn try_from(r: pb::MarkSkippedRequest) -> Result<Self, Self::Error> {
        let mut v = Validator::new();
        let account = v.check(
            "account_id",
            validate::identifier(&r.account_id, MAX_ID_LEN),
        );
        let number = v.check("phone_number", phone::normalize(&r.phone_number));
        v.finish_with(|| {
            Some(Skip {
                account_id: account?,
                phone_number: number?,
            })
        })
    }
}

impl TryFrom<pb::ResolveRequest> for Resolution {
    type Error = Vec<Violation>;

    fn try_from(r: pb::ResolveRequest) -> Result<Self, Self::Error> {
        let mut v = Validator::new();
        let number = v.check("phone_number", phone::normalize(&r.phone_number));
        let at = v.check("time", parse::time(r.time.as_ref()));
        v.finish_with(|| {
            Some(Resolution {
                phone_number: number?,
                at: at?,
            })
        })
    }
}

impl TryFrom<pb::RecordArrivalRequest> for ArrivalTime {
    type Error = Vec<Violation>;

    fn try_from(r: pb::RecordArrivalRequest) -> Result<Self, Self::Error> {
        let mut v = Validator::new();
        let service = v.check("service_code", codes::service(&r.service_code));
        let country = v.check("country_code", codes::country(&r.country_code));
        let arrival = v.check("arrival_time", arrival_ms(r.arrival_time.as_ref()));
        v.finish_with(|| {
            Some(ArrivalTime {
                service_code: service?,
                country_code: country?,
                arrival_ms: arrival?,
            })
        })
    }
}

fn name(value: &str) -> Result<String, String> {
    if value.trim().is_empty() {
        return Err("is required".into());
    }
    validate::text(value, MAX_NAME_LEN)
}

fn domain(value: &str) -> Result<String, String> {
    if value.is_empty() {
        return Ok(String::new());
    }
    validate::identifier(value, MAX_DOMAIN_LEN)
}

fn arrival_ms(duration: Option<&prost_types::Duration>) -> Result<i64, String> {
    let d = duration.ok_or("is required")?;
    if d.seconds < 0 || d.nanos < 0 || d.seconds > MAX_ARRIVAL_SECONDS {
        return Err("must be from 0 to 24 hours".into());
    }
    Ok(d.seconds * 1000 + i64::from(d.nanos / 1_000_000))
}

fn optional_number_type(value: i32) -> Result<Option<NumberType>, String> {
    match pb::NumberType::try_from(value) {
        Ok(pb::NumberType::Unspecified) => Ok(None),
        Ok(pb::NumberType::Voip) => Ok(Some(NumberType::Voip)),
        Ok(pb::NumberType::NonVoip) => Ok(Some(NumberType::NonVoip)),
        Err(_) => Err(format!("{value} is not a number type")),
    }
}

fn required_number_type(value: i32) -> Result<NumberType, String> {
    optional_number_type(value)?.ok_or_else(|| "is required: VOIP or NON_VOIP".into())
}

fn optional_duration(value: i32) -> Result<Option<RentalDuration>, String> {
    if value == 0 {
        return Ok(None);
    }
    RentalDuration::from_i64(i64::from(value))
        .map(Some)
        .ok_or_else(|| format!("{value} is not a rental duration"))
}

fn required_duration(value: i32) -> Result<RentalDuration, String> {
    optional_duration(value)?.ok_or_else(|| "is required".into())
}

pub fn number_type_to_proto(t: NumberType) -> i32 {
    let t = match t {
        NumberType::Voip => pb::NumberType::Voip,
        NumberType::NonVoip => pb::NumberType::NonVoip,
    };
    t as i32
}

pub fn service_to_proto(s: Service) -> pb::Service {
    pb::Service {
        code: s.code,
        name: s.name,
        domain: s.domain,
        disabled: s.disabled,
    }
}

pub fn country_to_proto(c: Country) -> pb::Country {
    pb::Country {
        code: c.code,
        name: c.name,
        dial_prefix: c.dial_prefix,
        activate_id: c.activate_id,
        disabled: c.disabled,
    }
}

pub fn operator_to_proto(o: Operator) -> pb::Operator {
    pb::Operator {
        country_code: o.country_code,
        code: o.code,
        name: o.name,
        disabled: o.disabled,
    }
}

pub fn offer_to_proto(o: CountryOffer) -> pb::CountryOffer {
    pb::CountryOffer {
        country: Some(country_to_proto(o.country)),
        price: o
            .price
            .and_then(|(units, currency)| money::to_proto(&currency, units)),
        stock: o.stock,
        average_arrival_time: o.average_arrival_ms.map(|ms| prost_types::Duration {
            seconds: ms.div_euclid(1000),
            nanos: (ms.rem_euclid(1000) * 1_000_000) as i32,
        }),
    }
}

pub fn price_to_proto(p: ActivationPrice) -> pb::ActivationPrice {
    pb::ActivationPrice {
        price: money::to_proto(&p.currency, p.price),
        service_code: p.service_code,
        country_code: p.country_code,
        operator: p.operator,
        update_time: Some(p.updated_at.to_proto()),
    }
}

pub fn plan_to_proto(p: RentalPlan) -> pb::RentalPlan {
    pb::RentalPlan {
        price: money::to_proto(&p.currency, p.price),
        original_price: p
            .original_price
            .and_then(|units| money::to_proto(&p.currency, units)),
        country_code: p.country_code,
        number_type: number_type_to_proto(p.number_type),
        service_code: p.service_code,
        duration: p.duration as i32,
        update_time: Some(p.updated_at.to_proto()),
    }
}

pub fn rental_pricing_to_proto(r: RentalPricing) -> pb::RentalPricing {
    pb::RentalPricing {
        country: Some(country_to_proto(r.country)),
        packages: r.packages.into_iter().map(plan_to_proto).collect(),
    }
}

pub fn inventory_to_proto(s: InventoryStatus) -> pb::InventoryStatus {
    pb::InventoryStatus {
        country_code: s.country_code,
        duration: s.duration as i32,
        number_type: number_type_to_proto(s.number_type),
        stock: s.stock,
        available: s.stock > 0,
    }
}

pub fn number_to_proto(n: PhoneNumber, now: Timestamp) -> pb::PhoneNumber {
    let state = match n.state(now) {
        NumberState::Available => pb::NumberState::Available,
        NumberState::Leased => pb::NumberState::Leased,
        NumberState::Quarantined => pb::NumberState::Quarantined,
    };
    pb::PhoneNumber {
        free_time: (n.free_at > now).then(|| n.free_at.to_proto()),
        state: state as i32,
        phone_number: n.e164,
        country_code: n.country_code,
        operator: n.operator,
        number_type: number_type_to_proto(n.number_type),
        source: n.source,
        create_time: Some(n.created_at.to_proto()),
    }
}

pub fn lease_to_proto(l: Lease, now: Timestamp) -> pb::Lease {
    let state = match l.state(now) {
        LeaseState::Active => pb::LeaseState::Active,
        LeaseState::Released => pb::LeaseState::Released,
        LeaseState::Expired => pb::LeaseState::Expired,
    };
    let kind = match l.kind {
        LeaseKind::Activation => pb::LeaseKind::Activation,
        LeaseKind::Rental => pb::LeaseKind::Rental,
    };
    pb::Lease {
        price: money::to_proto(&l.currency, l.price),
        state: state as i32,
        kind: kind as i32,
        id: l.id,
        holder_id: l.holder_id,
        account_id: l.account_id,
        phone_number: l.phone_number,
        country_code: l.country_code,
        operator: l.operator,
        number_type: number_type_to_proto(l.number_type),
        service_code: l.service_code,
        rental_duration: l.rental_duration.map_or(0, |d| d as i32),
        start_time: Some(l.started_at.to_proto()),
        expire_time: Some(l.expires_at.to_proto()),
        release_time: l.released_at.map(|t| t.to_proto()),
    }
}

pub fn import_report_to_proto(report: ImportReport) -> pb::ImportNumbersResponse {
    pb::ImportNumbersResponse {
        imported_count: report.imported as i32,
        rejected: report
            .rejected
            .into_iter()
            .map(|r| pb::RejectedNumber {
                index: r.index as i32,
                phone_number: r.phone_number,
                problem: match r.problem {
                    ImportProblem::Invalid => pb::ImportProblem::Invalid,
                    ImportProblem::Unknown => pb::ImportProblem::Unknown,
                    ImportProblem::AlreadyExists => pb::ImportProblem::AlreadyExists,
                } as i32,
                field: r.field.into(),
                description: r.description,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_names_every_bad_field_at_once() {
        let bad = pb::LeaseNumberRequest {
            kind: pb::LeaseKind::Rental as i32,
            account_id: String::new(),
            holder_id: "h 1".into(),
            country_code: "usa".into(),
            max_price: money::to_proto("EUR", 100),
            phone_number: "+14035551234".into(),
            ..Default::default()
        };
        assert_eq!(
            Violation::fields(&lease_spec(bad, "USD").unwrap_err()),
            [
                "account_id",
                "holder_id",
                "country_code",
                "max_price",
                "expire_time",
                "request_id",
                "phone_number",
                "number_type",
                "rental_duration",
            ]
        );
        let unspecified = pb::LeaseNumberRequest::default();
        assert_eq!(
            Violation::fields(&lease_spec(unspecified, "USD").unwrap_err())[0],
            "kind"
        );
    }

    #[test]
    fn an_activation_lease_keeps_unset_fields_unset() {
        let request = pb::LeaseNumberRequest {
            kind: pb::LeaseKind::Activation as i32,
            account_id: "a-1".into(),
            holder_id: "h-1".into(),
            country_code: "US".into(),
            service_code: "wa".into(),
            expire_time: Some(Timestamp::from_unix_micros(5).to_proto()),
            request_id: "r-1".into(),
            ..Default::default()
        };
        let spec = lease_spec(request, "USD").unwrap();
        assert_eq!(spec.kind, LeaseKind::Activation);
        assert_eq!(spec.service_code.as_deref(), Some("wa"));
        assert_eq!(
            (
                spec.operator,
                spec.number_type,
                spec.max_price,
                spec.phone_number
            ),
            (None, None, None, None)
        );
        assert_eq!(spec.expires_at, Timestamp::from_unix_micros(5));
    }

    #[test]
    fn a_rental_plan_names_every_bad_field_at_once() {
        let bad = pb::SetRentalPlanRequest {
            country_code: String::new(),
            number_type: 0,
            service_code: "?".into(),
            duration: 99,
            price: money::to_proto("USD", 500),
            original_price: money::to_proto("USD", 400),
        };
        assert_eq!(
            Violation::fields(&NewRentalPlan::try_from(bad).unwrap_err()),
            [
                "country_code",
                "number_type",
                "service_code",
                "duration",
                "original_price"
            ]
        );
    }

    #[test]
    fn an_extension_needs_its_time() {
        let bad = pb::ExtendRequest {
            lease_id: "l-1".into(),
            expire_time: None,
        };
        assert_eq!(
            Violation::fields(&Extension::try_from(bad).unwrap_err()),
            ["lease_id", "expire_time"]
        );
    }
}
