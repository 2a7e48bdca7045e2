#!/usr/bin/env python3
"""End-to-end tests of the numhub catalog, judged as an outside client.

The client is generated from the protos in proto/ with Python's gRPC toolchain
(see run.sh); nothing here links against the Rust code. Every check talks to
real `numhub-accounts` and `numhub-catalog` processes over gRPC and HTTP,
sharing a service credential; the catalog resolves API keys through accounts,
rests numbers for 2 s after a rental (NUMHUB_CATALOG_QUARANTINE) and sweeps
its stock counters every 200 ms (NUMHUB_CATALOG_SWEEP_INTERVAL), so that
quarantines and expiries can be watched in real time.

The catalog's three surfaces are used as their callers use them:
  * CatalogService with a customer's read-only API key (a real account made by
    the operator): services, countries with price, stock and arrival time,
    prices, rental packages and rental stock;
  * CatalogAdminService with the operator's admin key: prices, rental plans,
    number imports (good and bad rows), the inventory;
  * CatalogInternalService with the service credential, as orders, rentals
    and inbound use it: LeaseNumber (price, idempotency, max_price,
    exhaustion, skips, quarantine, concurrency), Release, Extend, GetLease,
    Resolve, MarkSkipped, RecordArrival.
Each check works in countries of its own, so the checks do not see each
other's numbers: US (imports and the customer's view), DE (leases), FR
(skips), NL (rental quarantine), IT (concurrency), PL (one request id sent
concurrently), ES (stock counters and expiry by time).

Scenarios:
  * postgres - fresh databases numhub_e2e_<random>_{accounts,catalog},
               `numhub-catalog migrate` (twice), then the suite. Skipped
               loudly when PostgreSQL is unreachable, unless CI=true, where it
               is mandatory.
  * sqlite   - the same suite on the default SQLite stores under ./data.

Usage: test_catalog.py [--accounts-binary PATH] [--catalog-binary PATH]
                       [--gen target/e2e-gen] [-k SUBSTRING] [--keep]
The last line printed is always "N passed, M failed"; the exit code is 0 only
when nothing failed.
"""

from __future__ import annotations

import collections
import os
import sys
import threading
import time
import urllib.error
import uuid

from google.protobuf import duration_pb2, timestamp_pb2

from e2e_common import (  # noqa: E402
    ABORTED, ARGS, CATALOG_QUARANTINE, CATALOG_SERVICES, CATALOG_SWEEP_INTERVAL, FAILED_PRECONDITION,
    INVALID_ARGUMENT, MISSING_CREDENTIAL, MISSING_SCOPE, NOT_FOUND, PERMISSION_DENIED, READ, RPC_COUNTER,
    SERVICE_CREDENTIAL_REQUIRED, SHUTDOWN_LIMIT, UNAUTHENTICATED, WRITE, C, Deployment, ErrorDetails, Failure,
    FreshDatabases, Runner, check, check_details, check_error, check_eq, check_health, check_reflection,
    check_reflection_grpcurl, check_uuid7, deviation, dump_logs, http_get, is_method, money, note, ok, outcome,
    parse_metrics, postgres_unreachable, psql, rid, run_binary, show, tail, check_workers_stopped,
)

CATALOG = "numhub.catalog.v1.CatalogService"
CATALOG_ADMIN = "numhub.catalog.v1.CatalogAdminService"
CATALOG_INTERNAL = "numhub.catalog.v1.CatalogInternalService"

# Quotas of the test accounts: the checks read a lot.
ROOMY = (100_000, 100_000)

ACTIVATION, RENTAL = C.LEASE_KIND_ACTIVATION, C.LEASE_KIND_RENTAL
VOIP, NON_VOIP = C.NUMBER_TYPE_VOIP, C.NUMBER_TYPE_NON_VOIP
SEVEN_DAYS, ONE_MONTH = C.RENTAL_DURATION_SEVEN_DAYS, C.RENTAL_DURATION_ONE_MONTH
INVALID, UNKNOWN, ALREADY_EXISTS = (C.IMPORT_PROBLEM_INVALID, C.IMPORT_PROBLEM_UNKNOWN,
                                    C.IMPORT_PROBLEM_ALREADY_EXISTS)

NO_NUMBERS_AVAILABLE = "NO_NUMBERS_AVAILABLE"
PRICE_ABOVE_MAX = "PRICE_ABOVE_MAX"
NOT_OFFERED = "NOT_OFFERED"
LEASE_ENDED = "LEASE_ENDED"
IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
REQUEST_IN_PROGRESS = "REQUEST_IN_PROGRESS"
RESOURCE_NOT_FOUND = "RESOURCE_NOT_FOUND"
INVALID_FIELD = "INVALID_FIELD"


# ---------------------------------------------------------------------------
# time and names
# ---------------------------------------------------------------------------


def ts(t: float) -> timestamp_pb2.Timestamp:
    """A Timestamp of the Unix time t, to the microsecond (what the catalog keeps)."""
    micros = int(round(t * 1_000_000))
    seconds, us = divmod(micros, 1_000_000)
    return timestamp_pb2.Timestamp(seconds=seconds, nanos=us * 1000)


def secs(t: timestamp_pb2.Timestamp) -> float:
    return t.seconds + t.nanos / 1e9


def dur(seconds: float) -> duration_pb2.Duration:
    whole = int(seconds)
    return duration_pb2.Duration(seconds=whole, nanos=int(round((seconds - whole) * 1e9)))


def name_of(enum, value) -> str:
    try:
        return enum.Name(value)
    except ValueError:
        return str(value)


def numbers(prefix: str, count: int, width: int, start: int = 0) -> list:
    """count E.164 numbers: prefix then width digits, counting from start."""
    return [f"{prefix}{i:0{width}d}" for i in range(start, start + count)]


# ---------------------------------------------------------------------------
# the test context: one deployment, its customers and their keys
# ---------------------------------------------------------------------------


class Ctx:
    def __init__(self, scenario: str, dep: Deployment):
        self.scenario = scenario
        self.dep = dep
        self.reader_key = None  # a customer's read-only key
        self.rw_key = None  # the same customer's read + write key
        self.a = self.b = None  # two customer account ids
        self.kept_lease = None  # an active lease, read back after a restart
        self.kept_stock = None

    def setup(self):
        """Two customers; the first with a read-only key to browse with."""
        dep = self.dep
        self.a = dep.create_account(f"e2e catalog A {self.scenario}", rate_limits=ROOMY).id
        self.b = dep.create_account(f"e2e catalog B {self.scenario}", rate_limits=ROOMY).id
        self.reader_key = dep.create_key(self.a, scopes=(READ,), name="catalog reader").secret
        self.rw_key = dep.create_key(self.a, scopes=(READ, WRITE), name="catalog read-write").secret

    @property
    def browse(self):
        """CatalogService with the customer's read-only key."""
        return self.dep.client(self.reader_key).catalog

    @property
    def admin(self):
        """CatalogAdminService with the operator's admin key."""
        return self.dep.admin().catalog_admin

    @property
    def internal(self):
        """CatalogInternalService with the service credential."""
        return self.dep.internal().catalog_internal

    # --- the operator ---------------------------------------------------

    def import_numbers(self, rows) -> C.ImportNumbersResponse:
        return ok(f"ImportNumbers of {len(rows)} rows", self.admin.ImportNumbers, C.ImportNumbersRequest(numbers=rows))

    def stock_up(self, country: str, phones, number_type=VOIP, operator: str = "") -> list:
        """Imports numbers that must all be accepted."""
        rows = [C.NumberImport(phone_number=p, country_code=country, operator=operator, number_type=number_type,
                               source="e2e") for p in phones]
        r = self.import_numbers(rows)
        check_eq((r.imported_count, list(r.rejected)), (len(rows), []), f"ImportNumbers of {len(rows)} {country} "
                                                                         f"numbers (imported_count, rejected)")
        return list(phones)

    def price(self, service: str, country: str, units: int, operator: str = "") -> C.ActivationPrice:
        p = ok(f"SetActivationPrice({service}, {country}, {operator!r}, {units})", self.admin.SetActivationPrice,
               C.SetActivationPriceRequest(service_code=service, country_code=country, operator=operator,
                                           price=money(units)))
        check_eq((p.service_code, p.country_code, p.operator, p.price), (service, country, operator,
                                                                         money(units, "USD")),
                 "the ActivationPrice SetActivationPrice returned (the catalog's currency, USD, filled in)")
        return p

    def plan(self, country: str, number_type, duration, units: int, original=None, service: str = "") -> C.RentalPlan:
        req = C.SetRentalPlanRequest(country_code=country, number_type=number_type, service_code=service,
                                     duration=duration, price=money(units))
        if original is not None:
            req.original_price.CopyFrom(money(original))
        return ok(f"SetRentalPlan({country}, {name_of(C.NumberType, number_type)}, "
                  f"{name_of(C.RentalDuration, duration)}, {units})", self.admin.SetRentalPlan, req)

    # --- the customer ----------------------------------------------------

    def offers(self, service: str = "") -> dict:
        """ListCountries(service), every page, as {country code: CountryOffer}."""
        out, token, pages = collections.OrderedDict(), "", 0
        while True:
            pages += 1
            check(pages < 100, f"ListCountries({service!r}) paged more than 100 times")
            r = ok(f"ListCountries({service!r}) with the customer's key", self.browse.ListCountries,
                   C.ListCountriesRequest(service_code=service, page_token=token))
            for o in r.countries:
                check(o.country.code not in out, f"ListCountries({service!r}) lists {o.country.code} twice")
                out[o.country.code] = o
            if not r.next_page_token:
                return out
            token = r.next_page_token

    def stock(self, country: str, service: str = "") -> int:
        o = self.offers(service).get(country)
        check(o is not None, f"ListCountries({service!r}) does not list {country}")
        return o.stock

    # --- numhub's services ----------------------------------------------

    def lease_req(self, account=None, country="DE", service="wa", kind=ACTIVATION, ttl=600.0, request_id=None,
                  **kw) -> C.LeaseNumberRequest:
        req = C.LeaseNumberRequest(kind=kind, account_id=account or self.a,
                                   holder_id=kw.pop("holder_id", f"e2e-holder-{uuid.uuid4().hex}"),
                                   country_code=country, service_code=service,
                                   expire_time=ts(kw.pop("expire_at", time.time() + ttl)),
                                   request_id=request_id or rid())
        max_price = kw.pop("max_price", None)
        if max_price is not None:
            req.max_price.CopyFrom(max_price if hasattr(max_price, "minor_units") else money(max_price))
        for k, v in kw.items():
            setattr(req, k, v)
        return req

    def lease(self, what: str, req: C.LeaseNumberRequest) -> C.Lease:
        lease = ok(what, self.internal.LeaseNumber, req)
        check_eq((lease.kind, lease.account_id, lease.holder_id, lease.country_code),
                 (req.kind, req.account_id, req.holder_id, req.country_code),
                 f"{what}: the lease's (kind, account_id, holder_id, country_code)")
        check_eq(lease.state, C.LEASE_STATE_ACTIVE, f"{what}: the new lease's state")
        check_eq(lease.expire_time, req.expire_time, f"{what}: the lease's expire_time (as asked)")
        return lease

    def refused(self, what: str, req: C.LeaseNumberRequest, reason: str, code=FAILED_PRECONDITION) -> ErrorDetails:
        return check_error(what, self.internal.LeaseNumber, req, code, reason)

    def release(self, lease: C.Lease) -> C.Lease:
        return ok(f"Release({lease.id})", self.internal.Release, C.ReleaseRequest(lease_id=lease.id))

    def resolve(self, phone: str, at: float):
        return outcome(self.internal.Resolve, C.ResolveRequest(phone_number=phone, time=ts(at)))


def run_parallel(n: int, fn) -> list:
    """Runs fn(i) in n threads released at the same moment; returns results in order."""
    barrier = threading.Barrier(n)
    results = [None] * n

    def body(i):
        barrier.wait()
        try:
            results[i] = fn(i)
        except BaseException as e:  # noqa: BLE001
            results[i] = ("EXC", e)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results:
        if isinstance(r, tuple) and r and r[0] == "EXC":
            raise r[1]
    return results


def wait_for(what: str, fn, limit: float, step: float = 0.05):
    """Polls fn() until it returns something true; returns (value, seconds waited)."""
    t0 = time.monotonic()
    while True:
        v = fn()
        if v:
            return v, time.monotonic() - t0
        if time.monotonic() - t0 > limit:
            raise Failure(f"{what}: not within {limit:.1f}s")
        time.sleep(step)


# ---------------------------------------------------------------------------
# the checks; each takes a Ctx
# ---------------------------------------------------------------------------


def t_health(ctx: Ctx):
    check_health(ctx.dep.catalog, CATALOG_SERVICES)


def t_reflection(ctx: Ctx):
    check_reflection(ctx.dep.catalog, CATALOG_SERVICES)


def t_reflection_grpcurl(ctx: Ctx):
    check_reflection_grpcurl(ctx.dep.catalog, CATALOG_SERVICES)


def t_seed(ctx: Ctx):
    """The built-in services and countries, as a customer browses them."""
    services, token, pages = [], "", 0
    while True:
        pages += 1
        check(pages < 100, "ListServices paged more than 100 times")
        r = ok("ListServices with the customer's key", ctx.browse.ListServices,
               C.ListServicesRequest(page_token=token))
        services.extend(r.services)
        if not r.next_page_token:
            break
        token = r.next_page_token
    codes = [s.code for s in services]
    check(len(services) >= 40, f"ListServices: expected at least 40 seeded services, got {len(services)}: {codes}")
    check_eq(codes, sorted(codes), "ListServices order (by code)")
    check_eq(len(set(codes)), len(codes), "ListServices: distinct codes")
    by_code = {s.code: s for s in services}
    check("wa" in by_code, f"ListServices has no \"wa\": {codes}")
    check_eq((by_code["wa"].name, by_code["wa"].disabled), ("WhatsApp", False), "service wa (name, disabled)")
    check("tg" in by_code, f"ListServices has no \"tg\": {codes}")
    # Paging with small pages gives the same list.
    paged, token, pages = [], "", 0
    while True:
        pages += 1
        check(pages < 1000, "ListServices(page_size=7) paged more than 1000 times")
        r = ok("ListServices(page_size=7)", ctx.browse.ListServices, C.ListServicesRequest(page_size=7, page_token=token))
        check(len(r.services) <= 7, f"ListServices(page_size=7) returned {len(r.services)} services")
        paged.extend(s.code for s in r.services)
        if not r.next_page_token:
            break
        token = r.next_page_token
    check_eq(paged, codes, "ListServices in pages of 7 vs in one page")

    offers = ctx.offers()
    check(len(offers) >= 30, f"ListCountries: expected at least 30 seeded countries, got {len(offers)}")
    check_eq(list(offers), sorted(offers), "ListCountries order (by code)")
    us = offers.get("US")
    check(us is not None, f"ListCountries has no US: {list(offers)}")
    check_eq((us.country.name, us.country.dial_prefix, us.country.activate_id, us.country.disabled),
             ("United States", "+1", 187, False), "country US (name, dial_prefix, activate_id, disabled)")
    check(not us.HasField("price"), f"ListCountries without a service: US has a price {show(us.price)}")
    ids = [o.country.activate_id for o in offers.values()]
    check_eq(len(set(ids)), len(ids), "activate_ids of the seeded countries are unique")
    paged = []
    token = ""
    while True:
        r = ok("ListCountries(page_size=10)", ctx.browse.ListCountries,
               C.ListCountriesRequest(page_size=10, page_token=token))
        check(len(r.countries) <= 10, f"ListCountries(page_size=10) returned {len(r.countries)} countries")
        paged.extend(o.country.code for o in r.countries)
        if not r.next_page_token:
            break
        token = r.next_page_token
    check_eq(paged, list(offers), "ListCountries in pages of 10 vs in one page")
    ops = ok("ListOperators(US)", ctx.admin.ListOperators, C.ListOperatorsRequest(country_code="US")).operators
    check({"tmobile", "att", "verizon"} <= {o.code for o in ops}, f"seeded US operators: {show(list(ops))}")


US_GOOD = ["+12025550100", "12025550101", "+12025550102", "+12025550109"]


def t_import(ctx: Ctx):
    """ImportNumbers: good rows in, bad rows reported one by one with index, field and problem."""
    rows = [
        ("+12025550100", "US", "tmobile", VOIP, None),  # 0
        ("12025550101", "US", "att", VOIP, None),  # 1: digits alone are accepted
        ("+12025550102", "US", "", NON_VOIP, None),  # 2
        ("+1 202 555 0103", "US", "", VOIP, (INVALID, "phone_number")),  # 3
        ("+12025550104", "ZZ", "", VOIP, (UNKNOWN, "country_code")),  # 4
        ("+12025550105", "us", "", VOIP, (INVALID, "country_code")),  # 5
        ("+12025550106", "US", "nosuch", VOIP, (UNKNOWN, "operator")),  # 6
        ("+442071838750", "US", "", VOIP, (INVALID, "phone_number")),  # 7: not +1
        ("+12025550108", "US", "", C.NUMBER_TYPE_UNSPECIFIED, (INVALID, "number_type")),  # 8
        ("+12025550100", "US", "att", VOIP, (ALREADY_EXISTS, "phone_number")),  # 9: same as row 0
        ("+12025550109", "US", "verizon", VOIP, None),  # 10
        ("+12025550110", "US", "T-Mobile", VOIP, (INVALID, "operator")),  # 11
    ]
    req = C.ImportNumbersRequest(numbers=[
        C.NumberImport(phone_number=p, country_code=c, operator=o, number_type=t, source=f"e2e-simbank-{i}")
        for i, (p, c, o, t, _) in enumerate(rows)])
    r = ok("ImportNumbers of 4 good and 8 bad rows", ctx.admin.ImportNumbers, req)
    check_eq(r.imported_count, 4, "ImportNumbers imported_count")
    want = [(i, p, name_of(C.ImportProblem, bad[0]), bad[1]) for i, (p, _, _, _, bad) in enumerate(rows) if bad]
    got = [(x.index, x.phone_number, name_of(C.ImportProblem, x.problem), x.field) for x in r.rejected]
    check_eq(got, want, "ImportNumbers rejected rows (index, phone_number as sent, problem, field), in request order")
    empty = [x.index for x in r.rejected if not x.description]
    check(not empty, f"rejected rows without a description: {empty}")

    listed = ok("ListNumbers(US)", ctx.admin.ListNumbers, C.ListNumbersRequest(country_code="US")).numbers
    check_eq(sorted(n.phone_number for n in listed), sorted("+" + p.lstrip("+") for p in US_GOOD),
             "ListNumbers(US) after the import (E.164)")
    check_eq([n.phone_number for n in listed], [n.phone_number for n in sorted(
        listed, key=lambda n: (n.create_time.seconds, n.create_time.nanos), reverse=True)],
        "ListNumbers order (newest first)")
    by_phone = {n.phone_number: n for n in listed}
    n0 = by_phone["+12025550100"]
    check_eq((n0.country_code, n0.operator, n0.number_type, n0.source, n0.state),
             ("US", "tmobile", VOIP, "e2e-simbank-0", C.NUMBER_STATE_AVAILABLE), "number +12025550100 as listed")
    check(all(n.state == C.NUMBER_STATE_AVAILABLE and not n.HasField("free_time") for n in listed),
          f"freshly imported numbers are AVAILABLE without free_time: {show(list(listed))}")

    # The same good rows again: nothing imported, each reported ALREADY_EXISTS.
    again_rows = [req.numbers[i] for i in (0, 1, 2, 10)]
    again = ok("ImportNumbers of the same good rows again", ctx.admin.ImportNumbers,
               C.ImportNumbersRequest(numbers=again_rows))
    check_eq(again.imported_count, 0, "imported_count of a repeated import")
    got = [(x.index, name_of(C.ImportProblem, x.problem), x.field) for x in again.rejected]
    check_eq(got, [(i, "IMPORT_PROBLEM_ALREADY_EXISTS", "phone_number") for i in range(4)],
             "rejected rows of a repeated import (index, problem, field)")
    sent = [x.phone_number for x in again_rows]
    reported = [x.phone_number for x in again.rejected]
    if reported != sent:
        bad = [(s, g) for s, g in zip(sent, reported) if s != g]
        check(all("+" + s.lstrip("+") == g for s, g in bad), f"rejected phone_number of a repeated import: "
                                                             f"sent {sent}, reported {reported}")
        deviation(f"ImportNumbers reports a row already in the inventory with its normalized number, not as sent "
                  f"(RejectedNumber.phone_number: \"The row's number, as sent\"): row sent as {bad[0][0]!r} "
                  f"reported as {bad[0][1]!r}")
    check_eq(len(ok("ListNumbers(US)", ctx.admin.ListNumbers, C.ListNumbersRequest(country_code="US")).numbers), 4,
             "US numbers after the repeated import")
    check_error("ImportNumbers with no rows", ctx.admin.ImportNumbers, C.ImportNumbersRequest(),
                INVALID_ARGUMENT, INVALID_FIELD, "numbers")


def t_customer_view(ctx: Ctx):
    """Prices, stock and arrival times the operator sets up, as the customer sees them."""
    ctx.price("wa", "US", 150)
    ctx.price("wa", "US", 175, operator="verizon")
    ctx.plan("US", VOIP, ONE_MONTH, 2500, original=3000)
    ctx.plan("US", VOIP, SEVEN_DAYS, 900)

    offers = ctx.offers("wa")
    check("US" in offers, f"ListCountries(\"wa\") does not list US after a wa price was set: {list(offers)}")
    check("GB" not in offers, "ListCountries(\"wa\") lists GB, where wa has no price")
    us = offers["US"]
    check_eq(us.price, money(150, "USD"), "ListCountries(\"wa\"): US price (the lowest of 150 and 175)")
    check_eq(us.stock, 4, "ListCountries(\"wa\"): US stock (4 numbers imported, none used)")
    check(not us.HasField("average_arrival_time"),
          f"ListCountries(\"wa\"): US has an average_arrival_time before any arrival: {show(us.average_arrival_time)}")
    check_eq(ctx.stock("US"), 4, "ListCountries(\"\"): US stock")

    for seconds in (30, 60):
        ok(f"RecordArrival(wa, US, {seconds}s)", ctx.internal.RecordArrival,
           C.RecordArrivalRequest(service_code="wa", country_code="US", arrival_time=dur(seconds)))
    us = ctx.offers("wa")["US"]
    check(us.HasField("average_arrival_time"), "ListCountries(\"wa\"): US has no average_arrival_time after two "
                                               "RecordArrival calls")
    check_eq(us.average_arrival_time, dur(45), "ListCountries(\"wa\"): US average_arrival_time after arrivals of "
                                               "30 s and 60 s")
    check(not ctx.offers("tg").get("US"), "ListCountries(\"tg\") lists US, where tg has no price")

    prices = ok("ListPrices(wa, US)", ctx.browse.ListPrices,
                C.ListPricesRequest(service_code="wa", country_code="US")).prices
    check_eq([(p.operator, p.price) for p in prices], [("", money(150, "USD")), ("verizon", money(175, "USD"))],
             "ListPrices(wa, US) (operator, price), ordered by operator")

    rp = ok("GetRentalPricing(US)", ctx.browse.GetRentalPricing, C.GetRentalPricingRequest(country_code="US"))
    check_eq((rp.country.code, rp.country.activate_id), ("US", 187), "GetRentalPricing(US).country")
    got = [(p.country_code, p.number_type, p.service_code, p.duration, p.price,
            p.original_price if p.HasField("original_price") else None) for p in rp.packages]
    check_eq(got, [("US", VOIP, "", SEVEN_DAYS, money(900, "USD"), None),
                   ("US", VOIP, "", ONE_MONTH, money(2500, "USD"), money(3000, "USD"))],
             "GetRentalPricing(US) packages (by type, then duration)")
    for country in ("JP", "XX"):
        check_error(f"GetRentalPricing({country}), a country without rental plans", ctx.browse.GetRentalPricing,
                    C.GetRentalPricingRequest(country_code=country), NOT_FOUND, RESOURCE_NOT_FOUND)
    listed = ok("ListRentalPricing", ctx.browse.ListRentalPricing, C.ListRentalPricingRequest()).countries
    check_eq([c.country.code for c in listed if c.country.code == "US"], ["US"], "ListRentalPricing lists US")

    inv = ok("CheckInventory(US)", ctx.browse.CheckInventory, C.CheckInventoryRequest(country_code="US"))
    check_eq((inv.country_code, inv.duration, inv.number_type, inv.stock, inv.available),
             ("US", ONE_MONTH, VOIP, 3, True),
             "CheckInventory(US) (route default: one month, VoIP; 3 VoIP numbers)")
    inv = ok("CheckInventory(US, 7 days, VoIP)", ctx.browse.CheckInventory,
             C.CheckInventoryRequest(country_code="US", duration=SEVEN_DAYS, number_type=VOIP))
    check_eq((inv.duration, inv.number_type, inv.stock, inv.available), (SEVEN_DAYS, VOIP, 3, True),
             "CheckInventory(US, 7 days, VoIP)")
    for what, req in [("CheckInventory(US, non-VoIP), no such plan",
                       C.CheckInventoryRequest(country_code="US", number_type=NON_VOIP)),
                      ("CheckInventory(US, 3 months), no such plan",
                       C.CheckInventoryRequest(country_code="US", duration=C.RENTAL_DURATION_THREE_MONTHS)),
                      ("CheckInventory(JP), no plan at all", C.CheckInventoryRequest(country_code="JP"))]:
        check_error(what, ctx.browse.CheckInventory, req, NOT_FOUND, RESOURCE_NOT_FOUND)


def t_access(ctx: Ctx):
    """Each surface takes its own credential."""
    dep = ctx.dep
    lease = ctx.lease_req(country="DE")
    for who, client in (("a customer's key", dep.client(ctx.rw_key)), ("the admin key", dep.admin())):
        check_error(f"LeaseNumber with {who}", client.catalog_internal.LeaseNumber, lease, PERMISSION_DENIED,
                    SERVICE_CREDENTIAL_REQUIRED)
        check_error(f"Resolve with {who}", client.catalog_internal.Resolve,
                    C.ResolveRequest(phone_number="+12025550100", time=ts(time.time())), PERMISSION_DENIED,
                    SERVICE_CREDENTIAL_REQUIRED)
    check_error("LeaseNumber without a credential", dep.anonymous().catalog_internal.LeaseNumber, lease,
                UNAUTHENTICATED, MISSING_CREDENTIAL)
    for what, fn, req in [
        ("ImportNumbers", dep.client(ctx.rw_key).catalog_admin.ImportNumbers,
         C.ImportNumbersRequest(numbers=[C.NumberImport(phone_number="+12025550199", country_code="US",
                                                        number_type=VOIP)])),
        ("SetActivationPrice", dep.client(ctx.rw_key).catalog_admin.SetActivationPrice,
         C.SetActivationPriceRequest(service_code="wa", country_code="US", price=money(1))),
    ]:
        check_error(f"{what} with a customer's read-write key", fn, req, PERMISSION_DENIED, MISSING_SCOPE)
    write_only = dep.create_key(ctx.a, scopes=(WRITE,), name="catalog write-only").secret
    check_error("ListCountries with a write-only key", dep.client(write_only).catalog.ListCountries,
                C.ListCountriesRequest(), PERMISSION_DENIED, MISSING_SCOPE)
    check_error("ListServices without a credential", dep.anonymous().catalog.ListServices, C.ListServicesRequest(),
                UNAUTHENTICATED, MISSING_CREDENTIAL)
    check_eq(ctx.offers("wa")["US"].price, money(150, "USD"), "the US wa price after the refused SetActivationPrice")
    check_eq(len(ok("ListNumbers(US)", ctx.admin.ListNumbers, C.ListNumbersRequest(country_code="US")).numbers), 4,
             "US numbers after the refused ImportNumbers")


DE = numbers("+4930", 2, 8, 1000)


def t_lease(ctx: Ctx):
    """LeaseNumber, its idempotency and refusals; Resolve, Release, Extend, GetLease."""
    ctx.stock_up("DE", DE)
    ctx.price("wa", "DE", 200)
    a, b = ctx.a, ctx.b

    r1 = ctx.lease_req(a, "DE")
    before = time.time()
    first = ctx.lease("LeaseNumber(activation, wa, DE)", r1)
    after = time.time()
    check_uuid7(first.id, "Lease.id")
    check(first.phone_number in DE, f"leased {first.phone_number}, not one of the DE numbers {DE}")
    check_eq((first.service_code, first.number_type, first.operator, first.rental_duration),
             ("wa", VOIP, "", C.RENTAL_DURATION_UNSPECIFIED), "the lease's (service_code, number_type, operator, "
                                                              "rental_duration)")
    check_eq(first.price, money(200, "USD"), "the lease's price (server-side: the DE wa price)")
    check(before - 1 <= secs(first.start_time) <= after + 1,
          f"the lease's start_time {secs(first.start_time)} is not between {before} and {after}")
    check(not first.HasField("release_time"), f"a new lease has a release_time {show(first.release_time)}")

    again = ok("LeaseNumber retried with the same request_id and fields", ctx.internal.LeaseNumber, r1)
    check_eq(again, first, "the retried LeaseNumber (the same lease)")
    for what, changed in [("another holder_id", dict(holder_id="e2e-other-holder")),
                          ("another service", dict(service_code="tg")),
                          ("another expire_time", dict(expire_time=ts(secs(r1.expire_time) + 60)))]:
        req = C.LeaseNumberRequest()
        req.CopyFrom(r1)
        for k, v in changed.items():
            if hasattr(v, "CopyFrom"):
                getattr(req, k).CopyFrom(v)
            else:
                setattr(req, k, v)
        ctx.refused(f"LeaseNumber reusing the request_id with {what}", req, IDEMPOTENCY_KEY_REUSED)
    got = ok("GetLease", ctx.internal.GetLease, C.GetLeaseRequest(lease_id=first.id))
    check_eq(got, first, "GetLease of the new lease")

    ctx.refused("LeaseNumber with max_price 199 (the price is 200)", ctx.lease_req(a, "DE", max_price=199),
                PRICE_ABOVE_MAX)
    second = ctx.lease("LeaseNumber with max_price 200", ctx.lease_req(a, "DE", max_price=money(200, "USD")))
    check_eq(second.price, money(200, "USD"), "price of the lease within max_price")
    check_eq(sorted([first.phone_number, second.phone_number]), sorted(DE), "the two DE leases' numbers")
    exhausted = ctx.lease_req(b, "DE")
    ctx.refused("LeaseNumber when every DE number is held", exhausted, NO_NUMBERS_AVAILABLE)
    ctx.refused("LeaseNumber with max_price 1 when every DE number is held", ctx.lease_req(b, "DE", max_price=1),
                NO_NUMBERS_AVAILABLE)

    # Who held the number when.
    kind, res = ctx.resolve(first.phone_number, time.time())
    check(kind == "OK", f"Resolve({first.phone_number}, now): expected the lease, got {res}")
    check_eq((res.id, res.holder_id, res.account_id, res.state), (first.id, first.holder_id, a, C.LEASE_STATE_ACTIVE),
             "Resolve(now) (id, holder_id, account_id, state)")
    kind, res = ctx.resolve(first.phone_number.lstrip("+"), time.time())
    check(kind == "OK" and res.id == first.id, f"Resolve of the digits alone: expected lease {first.id}, got "
                                               f"{show(res)}")
    kind, res = ctx.resolve(first.phone_number, secs(first.start_time) - 5)
    check(kind == "ERR" and res.code == NOT_FOUND, f"Resolve 5 s before the lease began: expected NOT_FOUND, "
                                                   f"got {show(res)}")

    time.sleep(0.2)
    released = ctx.release(first)
    check_eq(released.state, C.LEASE_STATE_RELEASED, "state of the released lease")
    check(released.HasField("release_time"), "the released lease has no release_time")
    t_rel = secs(released.release_time)
    check(secs(first.start_time) < t_rel <= time.time() + 1, f"release_time {t_rel} is not after the start "
                                                             f"{secs(first.start_time)} and about now")
    check_eq((released.id, released.phone_number, released.expire_time), (first.id, first.phone_number,
                                                                          first.expire_time),
             "the released lease (id, phone_number, expire_time)")
    twice = ctx.release(first)
    check_eq(twice, released, "Release of a released lease (returns it unchanged)")
    check_eq(ok("GetLease", ctx.internal.GetLease, C.GetLeaseRequest(lease_id=first.id)), released,
             "GetLease of the released lease")
    kind, res = ctx.resolve(first.phone_number, time.time())
    check(kind == "ERR", f"Resolve(now) after Release: expected NOT_FOUND, got {show(res)}")
    check_details("Resolve(now) after Release", res, NOT_FOUND, RESOURCE_NOT_FOUND)
    mid = (secs(first.start_time) + t_rel) / 2
    kind, res = ctx.resolve(first.phone_number, mid)
    check(kind == "OK", f"Resolve at an instant inside the released lease: expected the lease, got {res}")
    check_eq((res.id, res.holder_id, res.account_id, res.state), (first.id, first.holder_id, a,
                                                                  C.LEASE_STATE_RELEASED),
             "Resolve at an instant inside the lease, after its release")
    check_error("Extend of a released lease", ctx.internal.Extend,
                C.ExtendRequest(lease_id=first.id, expire_time=ts(time.time() + 3600)), FAILED_PRECONDITION,
                LEASE_ENDED)

    # The released number served wa: no activation for wa gets it again, one for tg does.
    ctx.refused("LeaseNumber(wa, DE) after the release (the free number already served wa)", ctx.lease_req(b, "DE"),
                NO_NUMBERS_AVAILABLE)
    ctx.refused("LeaseNumber(tg, DE) before tg has a price in DE", ctx.lease_req(b, "DE", service="tg"), NOT_OFFERED)
    ctx.price("tg", "DE", 90)
    tg = ctx.lease("LeaseNumber(tg, DE)", ctx.lease_req(b, "DE", service="tg"))
    check_eq((tg.phone_number, tg.price), (first.phone_number, money(90, "USD")),
             "LeaseNumber(tg, DE) gets the released number at the tg price")
    ok("Release of the tg lease", ctx.internal.Release, C.ReleaseRequest(lease_id=tg.id))

    # A refusal is recorded under its request id, like a lease.
    check_error("the refused LeaseNumber retried", ctx.internal.LeaseNumber, exhausted, FAILED_PRECONDITION,
                NO_NUMBERS_AVAILABLE)

    # Extend the second lease.
    later = secs(second.expire_time) + 3600
    ext = ok("Extend by an hour", ctx.internal.Extend, C.ExtendRequest(lease_id=second.id, expire_time=ts(later)))
    check_eq((ext.id, ext.expire_time, ext.state), (second.id, ts(later), C.LEASE_STATE_ACTIVE), "the extended lease")
    same = ok("Extend to the current end", ctx.internal.Extend, C.ExtendRequest(lease_id=second.id,
                                                                                 expire_time=ts(later)))
    check_eq(same.expire_time, ts(later), "Extend to the current end changes nothing")
    check_error("Extend to before the current end", ctx.internal.Extend,
                C.ExtendRequest(lease_id=second.id, expire_time=ts(later - 60)), INVALID_ARGUMENT, INVALID_FIELD,
                "expire_time")
    check_eq(ok("GetLease", ctx.internal.GetLease, C.GetLeaseRequest(lease_id=second.id)).expire_time, ts(later),
             "GetLease after Extend")
    check_error("GetLease of an unknown lease", ctx.internal.GetLease, C.GetLeaseRequest(lease_id=str(uuid.uuid4())),
                NOT_FOUND, RESOURCE_NOT_FOUND)
    check_error("Release of an unknown lease", ctx.internal.Release, C.ReleaseRequest(lease_id=str(uuid.uuid4())),
                NOT_FOUND, RESOURCE_NOT_FOUND)
    ctx.kept_lease = ext


FR = numbers("+336", 1, 8, 12345678)


def t_skip(ctx: Ctx):
    """MarkSkipped: that account never gets the number again; another account does."""
    ctx.stock_up("FR", FR)
    n = FR[0]
    ctx.price("wa", "FR", 100)
    ctx.price("tg", "FR", 100)
    a, b = ctx.a, ctx.b
    for attempt in (1, 2):
        ok(f"MarkSkipped(A, {n}) (call {attempt})", ctx.internal.MarkSkipped,
           C.MarkSkippedRequest(account_id=a, phone_number=n))
    check_error("MarkSkipped of a number not in the inventory", ctx.internal.MarkSkipped,
                C.MarkSkippedRequest(account_id=a, phone_number="+33699999999"), NOT_FOUND, RESOURCE_NOT_FOUND)
    ctx.refused("LeaseNumber(wa, FR) for the account that skipped the only FR number", ctx.lease_req(a, "FR"),
                NO_NUMBERS_AVAILABLE)
    lb = ctx.lease("LeaseNumber(wa, FR) for another account", ctx.lease_req(b, "FR"))
    check_eq(lb.phone_number, n, "the other account's FR number")
    ctx.release(lb)
    ctx.refused("LeaseNumber(tg, FR) for the account that skipped the number (any service)",
                ctx.lease_req(a, "FR", service="tg"), NO_NUMBERS_AVAILABLE)
    lb = ctx.lease("LeaseNumber(tg, FR) for the other account", ctx.lease_req(b, "FR", service="tg"))
    check_eq(lb.phone_number, n, "the other account's FR number for tg")
    ctx.release(lb)
    check_eq(ctx.stock("FR"), 1, "ListCountries(\"\"): FR stock once both leases are released")
    ctx.refused("LeaseNumber(tg, FR) for the account that skipped it, the number free again",
                ctx.lease_req(a, "FR", service="tg"), NO_NUMBERS_AVAILABLE)


NL = numbers("+316", 1, 8, 20000000)


def t_rental_quarantine(ctx: Ctx):
    """A released rental's number rests in quarantine, then can be leased again."""
    ctx.stock_up("NL", NL)
    n = NL[0]
    ctx.plan("NL", VOIP, SEVEN_DAYS, 900)
    ctx.price("wa", "NL", 100)
    a, b = ctx.a, ctx.b
    inv = ok("CheckInventory(NL)", ctx.browse.CheckInventory, C.CheckInventoryRequest(country_code="NL"))
    check_eq((inv.duration, inv.number_type, inv.stock, inv.available), (SEVEN_DAYS, VOIP, 1, True),
             "CheckInventory(NL) (default: the shortest plan, 7 days)")

    def rental(account):
        return ctx.lease_req(account, "NL", service="", kind=RENTAL, number_type=VOIP, rental_duration=SEVEN_DAYS,
                             ttl=7 * 86400)

    lease = ctx.lease("LeaseNumber(rental, NL, VoIP, 7 days)", rental(a))
    check_eq((lease.phone_number, lease.price, lease.rental_duration, lease.service_code, lease.number_type),
             (n, money(900, "USD"), SEVEN_DAYS, "", VOIP), "the rental lease (phone_number, price, rental_duration, "
                                                            "service_code, number_type)")
    ctx.refused("LeaseNumber(activation, wa, NL) while the rental holds the only number", ctx.lease_req(b, "NL"),
                NO_NUMBERS_AVAILABLE)
    inv = ok("CheckInventory(NL)", ctx.browse.CheckInventory, C.CheckInventoryRequest(country_code="NL"))
    check_eq((inv.stock, inv.available), (0, False), "CheckInventory(NL) (stock, available) while rented")
    check_error("GetRentalPricing(NL) with no number in stock", ctx.browse.GetRentalPricing,
                C.GetRentalPricingRequest(country_code="NL"), NOT_FOUND, RESOURCE_NOT_FOUND)

    released = ctx.release(lease)
    t_rel = secs(released.release_time)
    free_at = t_rel + CATALOG_QUARANTINE
    during = rental(b)
    ctx.refused("LeaseNumber(rental, NL) right after the release (the number is in quarantine)", during,
                NO_NUMBERS_AVAILABLE)
    ctx.refused("LeaseNumber(activation, wa, NL) during the quarantine", ctx.lease_req(b, "NL"), NO_NUMBERS_AVAILABLE)
    listed = ok("ListNumbers(NL)", ctx.admin.ListNumbers, C.ListNumbersRequest(country_code="NL")).numbers
    check_eq([(x.phone_number, x.state) for x in listed], [(n, C.NUMBER_STATE_QUARANTINED)],
             "ListNumbers(NL) during the quarantine (phone_number, state)")
    check(listed[0].HasField("free_time") and abs(secs(listed[0].free_time) - free_at) < 0.05,
          f"free_time of the quarantined number: expected release_time + {CATALOG_QUARANTINE}s = {free_at}, got "
          f"{show(listed[0].free_time)}")
    kind, res = ctx.resolve(n, time.time())
    check(kind == "ERR" and res.code == NOT_FOUND, f"Resolve(now) during the quarantine: expected NOT_FOUND, got "
                                                   f"{show(res)}")
    inv = ok("CheckInventory(NL)", ctx.browse.CheckInventory, C.CheckInventoryRequest(country_code="NL"))
    check_eq(inv.stock, 0, "CheckInventory(NL) stock during the quarantine")

    left = free_at - time.time()
    check(left > 0.3, f"the quarantine was over {-left:.2f}s after the release's answer arrived (expected "
                      f"{CATALOG_QUARANTINE}s)")
    time.sleep(max(0.0, left - 0.3))
    ctx.refused("LeaseNumber(rental, NL) 0.3 s before the quarantine ends", rental(b), NO_NUMBERS_AVAILABLE)
    time.sleep(max(0.0, free_at - time.time()) + 0.02)
    # Stock shows it within a sweep.
    inv, waited = wait_for("CheckInventory(NL) stock back to 1 after the quarantine",
                           lambda: (lambda r: r if r.stock == 1 else None)(
                               ok("CheckInventory(NL)", ctx.browse.CheckInventory,
                                  C.CheckInventoryRequest(country_code="NL"))),
                           limit=CATALOG_SWEEP_INTERVAL * 5 + 0.5)
    check_eq(inv.available, True, "CheckInventory(NL).available after the quarantine")
    note(f"NL stock back {waited:.2f}s after the quarantine ended (sweep interval {CATALOG_SWEEP_INTERVAL}s)")
    check_eq(len(ok("GetRentalPricing(NL)", ctx.browse.GetRentalPricing,
                    C.GetRentalPricingRequest(country_code="NL")).packages), 1,
             "GetRentalPricing(NL) packages after the quarantine")
    check_error("the LeaseNumber refused during the quarantine, retried after it (the recorded refusal)",
                ctx.internal.LeaseNumber, during, FAILED_PRECONDITION, NO_NUMBERS_AVAILABLE)
    nxt = ctx.lease("LeaseNumber(rental, NL) after the quarantine", rental(b))
    check_eq(nxt.phone_number, n, "the number leased after the quarantine")
    mid = (secs(lease.start_time) + t_rel) / 2
    kind, res = ctx.resolve(n, mid)
    check(kind == "OK" and res.id == lease.id, f"Resolve inside the first rental ({mid}): expected {lease.id}, got "
                                               f"{show(res)}")
    kind, res = ctx.resolve(n, time.time())
    check(kind == "OK" and res.id == nxt.id and res.account_id == b,
          f"Resolve(now): expected the second rental {nxt.id} of B, got {show(res)}")


IT = numbers("+393", 10, 9, 100000000)


def t_concurrent_leases(ctx: Ctx):
    """20 concurrent LeaseNumber calls for 10 numbers: 10 distinct numbers, 10 NO_NUMBERS_AVAILABLE."""
    ctx.stock_up("IT", IT)
    ctx.price("wa", "IT", 120)
    check_eq(ctx.stock("IT", "wa"), 10, "ListCountries(\"wa\"): IT stock before the burst")
    tag = uuid.uuid4().hex[:8]
    reqs = [ctx.lease_req(f"e2e-burst-{tag}-{i}", "IT") for i in range(20)]
    internal = ctx.internal
    results = run_parallel(20, lambda i: outcome(internal.LeaseNumber, reqs[i], timeout=30))
    leased = [(i, r) for i, (kind, r) in enumerate(results) if kind == "OK"]
    refused = [(i, r) for i, (kind, r) in enumerate(results) if kind == "ERR"]
    bad = [f"#{i}: {r}" for i, r in refused if (r.code, r.reason) != (FAILED_PRECONDITION, NO_NUMBERS_AVAILABLE)]
    codes = collections.Counter("OK" if k == "OK" else f"{r.code.name} {r.reason}" for k, r in results)
    note(f"20 concurrent LeaseNumber calls for 10 IT numbers: {dict(codes)}")
    check(not bad, f"concurrent LeaseNumber answers other than a lease or NO_NUMBERS_AVAILABLE: {bad[:5]}")
    phones = [r.phone_number for _, r in leased]
    check_eq(len(leased), 10, "leases granted to 20 concurrent calls for 10 numbers")
    check_eq(sorted(set(phones)), sorted(IT), "the numbers leased (10 distinct, every IT number)")
    for i, r in leased:
        check_eq((r.account_id, r.holder_id, r.price), (reqs[i].account_id, reqs[i].holder_id, money(120, "USD")),
                 f"lease #{i} (account_id, holder_id, price)")
    check_eq((ctx.stock("IT", "wa"), ctx.stock("IT")), (0, 0), "IT stock (for wa, overall) after the burst")
    now = time.time()
    for i, r in leased:
        kind, res = ctx.resolve(r.phone_number, now)
        check(kind == "OK" and res.id == r.id, f"Resolve({r.phone_number}): expected lease {r.id} of "
                                               f"{reqs[i].account_id}, got {show(res)}")
    for i, r in refused[:3]:
        check_error(f"refused call #{i} retried", internal.LeaseNumber, reqs[i], FAILED_PRECONDITION,
                    NO_NUMBERS_AVAILABLE)


PL = numbers("+48601", 3, 6, 0)


def t_concurrent_same_request(ctx: Ctx):
    """One LeaseNumber sent 10 times at once: one lease; the others get it (or REQUEST_IN_PROGRESS)."""
    ctx.stock_up("PL", PL)
    ctx.price("wa", "PL", 80)
    req = ctx.lease_req(ctx.a, "PL")
    internal = ctx.internal
    results = run_parallel(10, lambda i: outcome(internal.LeaseNumber, req, timeout=30))
    leases = [r for kind, r in results if kind == "OK"]
    errs = [r for kind, r in results if kind == "ERR"]
    codes = collections.Counter("OK" if k == "OK" else f"{r.code.name} {r.reason}" for k, r in results)
    note(f"10 concurrent LeaseNumber calls with one request_id: {dict(codes)}")
    bad = [str(e) for e in errs if (e.code, e.reason) != (ABORTED, REQUEST_IN_PROGRESS)]
    check(not bad, f"answers other than the lease or ABORTED REQUEST_IN_PROGRESS: {bad[:3]}")
    check(leases, "no call with the shared request_id got a lease")
    check_eq(len({r.id for r in leases}), 1, f"distinct leases among the {len(leases)} answers")
    final = ok("the request retried once the burst is over", internal.LeaseNumber, req)
    check_eq(final.id, leases[0].id, "the lease of the retried request")
    check_eq(ctx.stock("PL"), 2, "ListCountries(\"\"): PL stock (3 numbers, one lease)")


ES = numbers("+346", 3, 8, 30000000)


def t_stock_counters(ctx: Ctx):
    """ListCountries' stock drops on lease and comes back on release and on expiry."""
    ctx.stock_up("ES", ES)
    ctx.price("wa", "ES", 100)
    ctx.price("tg", "ES", 100)
    a = ctx.a

    def all_stock():
        return ctx.stock("ES"), ctx.stock("ES", "wa"), ctx.stock("ES", "tg")

    check_eq(all_stock(), (3, 3, 3), "ES stock (overall, wa, tg) of 3 fresh numbers")
    wa = ctx.lease("LeaseNumber(wa, ES)", ctx.lease_req(a, "ES"))
    check_eq(all_stock(), (2, 2, 2), "ES stock (overall, wa, tg) while one number is leased for wa")
    ctx.release(wa)
    got = all_stock()
    check_eq(got[0], 3, "ListCountries(\"\"): ES stock right after the activation's release (no sweep needed)")
    check_eq(got[2], 3, "ListCountries(\"tg\"): ES stock right after the release")
    # For a service the stock counts numbers never used for it: the released number served wa.
    check_eq(got[1], 2, "ListCountries(\"wa\"): ES stock after the release (the released number served wa, and "
                        "CountryOffer.stock counts, for a service, the numbers never used for it)")

    # A short lease that ends by time.
    expire_at = time.time() + 1.0
    short = ctx.lease("LeaseNumber(tg, ES) for 1 s", ctx.lease_req(a, "ES", service="tg", expire_at=expire_at))
    check(short.phone_number != wa.phone_number,
          f"LeaseNumber(tg, ES) took {short.phone_number}, the number leased (and released) before, while two were "
          f"never leased: the least recently leased number goes first")
    got = all_stock()
    check_eq(got, (2, 1, 2), "ES stock (overall, wa, tg) during the 1 s tg lease")
    time.sleep(max(0.0, expire_at - time.time()) + 0.05)
    check_eq(ok("GetLease", ctx.internal.GetLease, C.GetLeaseRequest(lease_id=short.id)).state, C.LEASE_STATE_EXPIRED,
             "state of the lease past its expire_time")
    kind, res = ctx.resolve(short.phone_number, time.time())
    check(kind == "ERR" and res.code == NOT_FOUND, f"Resolve(now) after the expiry: expected NOT_FOUND, got {show(res)}")
    kind, res = ctx.resolve(short.phone_number, secs(short.start_time) + 0.5)
    check(kind == "OK" and res.id == short.id, f"Resolve inside the expired lease: expected {short.id}, got "
                                               f"{show(res)}")
    want = (3, 2, 2)
    got, waited = wait_for("ES stock (overall, wa, tg) back after the 1 s lease expired",
                           lambda: (lambda s: s if s == want else None)(all_stock()),
                           limit=CATALOG_SWEEP_INTERVAL * 2 + 1.0)
    note(f"ES stock back {waited + 0.05:.2f}s after the lease expired (sweep interval {CATALOG_SWEEP_INTERVAL}s)")
    check_eq(ctx.release(short).state, C.LEASE_STATE_EXPIRED, "Release of an expired lease (returned unchanged)")
    check_error("Extend of an expired lease", ctx.internal.Extend,
                C.ExtendRequest(lease_id=short.id, expire_time=ts(time.time() + 60)), FAILED_PRECONDITION, LEASE_ENDED)
    time.sleep(CATALOG_SWEEP_INTERVAL * 2)
    check_eq(all_stock(), want, "ES stock after releasing the expired lease and two more sweeps (counted once)")
    ctx.kept_stock = ("ES", want)


def t_invalid(ctx: Ctx):
    """Malformed requests: INVALID_ARGUMENT naming every field at fault."""
    s = ctx.internal
    d = ctx.refused("LeaseNumber without kind and with country \"usa\"",
                    ctx.lease_req(kind=C.LEASE_KIND_UNSPECIFIED, country="usa"), INVALID_FIELD, INVALID_ARGUMENT)
    check({"kind", "country_code"} <= set(d.fields), f"BadRequest of LeaseNumber without kind and with country "
                                                      f"\"usa\" should name kind and country_code, names {d.fields}")

    def lr(**kw):
        return ctx.lease_req(**kw)

    def lr_without(field, value=None):
        r = ctx.lease_req()
        if value is None:
            r.ClearField(field)
        else:
            setattr(r, field, value)
        return r

    cases = [
        ("LeaseNumber without expire_time", s.LeaseNumber, lr_without("expire_time"), "expire_time"),
        ("LeaseNumber expiring in the past", s.LeaseNumber, lr(expire_at=time.time() - 60), "expire_time"),
        ("LeaseNumber without request_id", s.LeaseNumber, lr_without("request_id", ""), "request_id"),
        ("LeaseNumber with a request_id of 256 characters", s.LeaseNumber, lr(request_id="r" * 256), "request_id"),
        ("LeaseNumber without account_id", s.LeaseNumber, lr_without("account_id", ""), "account_id"),
        ("LeaseNumber without holder_id", s.LeaseNumber, lr(holder_id=""), "holder_id"),
        ("LeaseNumber activation without service", s.LeaseNumber, lr(service=""), "service_code"),
        ("LeaseNumber activation with a rental_duration", s.LeaseNumber, lr(rental_duration=SEVEN_DAYS),
         "rental_duration"),
        ("LeaseNumber rental without number_type", s.LeaseNumber, lr(kind=RENTAL, rental_duration=SEVEN_DAYS),
         "number_type"),
        ("LeaseNumber rental without rental_duration", s.LeaseNumber, lr(kind=RENTAL, number_type=VOIP),
         "rental_duration"),
        ("LeaseNumber max_price 0", s.LeaseNumber, lr(max_price=money(0)), "max_price"),
        ("LeaseNumber max_price in EUR", s.LeaseNumber, lr(max_price=money(500, "EUR")), "max_price"),
        ("LeaseNumber service \"WA\"", s.LeaseNumber, lr(service="WA"), "service_code"),
        ("LeaseNumber operator \"T-Mobile\"", s.LeaseNumber, lr(operator="T-Mobile"), "operator"),
        ("Resolve of a malformed number", s.Resolve, C.ResolveRequest(phone_number="+1 202 555", time=ts(time.time())),
         "phone_number"),
        ("Resolve without time", s.Resolve, C.ResolveRequest(phone_number="+12025550100"), "time"),
        ("Release of a lease_id that is no UUID", s.Release, C.ReleaseRequest(lease_id="not-a-uuid"), "lease_id"),
        ("GetLease without lease_id", s.GetLease, C.GetLeaseRequest(), "lease_id"),
        ("MarkSkipped without account_id", s.MarkSkipped, C.MarkSkippedRequest(phone_number="+12025550100"),
         "account_id"),
        ("RecordArrival of 25 hours", s.RecordArrival,
         C.RecordArrivalRequest(service_code="wa", country_code="US", arrival_time=dur(25 * 3600)), "arrival_time"),
        ("RecordArrival without arrival_time", s.RecordArrival,
         C.RecordArrivalRequest(service_code="wa", country_code="US"), "arrival_time"),
        ("SetActivationPrice of 0", ctx.admin.SetActivationPrice,
         C.SetActivationPriceRequest(service_code="wa", country_code="US", price=money(0)), "price"),
        ("SetRentalPlan with original_price below price", ctx.admin.SetRentalPlan,
         C.SetRentalPlanRequest(country_code="US", number_type=VOIP, duration=ONE_MONTH, price=money(500),
                                original_price=money(400)), "original_price"),
        ("SetRentalPlan without number_type", ctx.admin.SetRentalPlan,
         C.SetRentalPlanRequest(country_code="US", duration=ONE_MONTH, price=money(500)), "number_type"),
        ("ListCountries for service \"WA\"", ctx.browse.ListCountries, C.ListCountriesRequest(service_code="WA"),
         "service_code"),
        ("ListServices page_size 1001", ctx.browse.ListServices, C.ListServicesRequest(page_size=1001), "page_size"),
        ("ListServices garbage page_token", ctx.browse.ListServices, C.ListServicesRequest(page_token="garbage!"),
         "page_token"),
        ("CheckInventory country \"us\"", ctx.browse.CheckInventory, C.CheckInventoryRequest(country_code="us"),
         "country_code"),
        ("GetRentalPricing without country", ctx.browse.GetRentalPricing, C.GetRentalPricingRequest(),
         "country_code"),
    ]
    problems = []
    for what, fn, req, field in cases:
        try:
            check_error(what, fn, req, INVALID_ARGUMENT, INVALID_FIELD, field)
        except Failure as e:
            problems.append(str(e))
    not_found = [
        ("LeaseNumber for an unknown service", s.LeaseNumber, lr(service="zzz9")),
        ("LeaseNumber in an unknown country", s.LeaseNumber, lr(country="XX")),
        ("ListCountries for an unknown service", ctx.browse.ListCountries, C.ListCountriesRequest(service_code="zzz9")),
        ("SetActivationPrice for an unknown service", ctx.admin.SetActivationPrice,
         C.SetActivationPriceRequest(service_code="zzz9", country_code="US", price=money(5))),
        ("Resolve of a number not in the inventory", s.Resolve,
         C.ResolveRequest(phone_number="+19999999999", time=ts(time.time()))),
    ]
    for what, fn, req in not_found:
        try:
            check_error(what, fn, req, NOT_FOUND, RESOURCE_NOT_FOUND)
        except Failure as e:
            problems.append(str(e))
    for what, req in [("LeaseNumber(fb, GB), no price", lr(country="GB", service="fb")),
                      ("LeaseNumber(rental, GB), no plan", lr(country="GB", service="", kind=RENTAL, number_type=VOIP,
                                                              rental_duration=ONE_MONTH))]:
        try:
            check_error(what, s.LeaseNumber, req, FAILED_PRECONDITION, NOT_OFFERED)
        except Failure as e:
            problems.append(str(e))
    if problems:
        raise Failure(f"{len(problems)} of the bad-input checks failed:\n    - " + "\n    - ".join(problems))


def t_metrics(ctx: Ctx):
    proc = ctx.dep.catalog
    url = proc.metrics_url()
    made = ctx.dep.calls[(proc.name, f"/{CATALOG_INTERNAL}/LeaseNumber")]
    deadline = time.monotonic() + 5
    while True:
        try:
            status, _, body = http_get(url)
        except (urllib.error.URLError, OSError) as e:
            raise Failure(f"GET {url}: {e}")
        check_eq(status, 200, f"HTTP status of GET {url}")
        counter = [(lb, v) for n, lb, v in parse_metrics(body) if n == RPC_COUNTER]
        got = sum(v for lb, v in counter if is_method(lb, CATALOG_INTERNAL, "LeaseNumber"))
        if got == made or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    check(counter, f"{url} has no {RPC_COUNTER}")
    check_eq(got, float(made), f"{RPC_COUNTER} summed over {CATALOG_INTERNAL}/LeaseNumber (this client made {made} "
                               f"such calls)")
    codes = {lb.get("code") for lb, _ in counter if is_method(lb, CATALOG_INTERNAL, "LeaseNumber")}
    note(f"LeaseNumber samples by code: {sorted(c for c in codes if c)}")


def t_restart(ctx: Ctx):
    """SIGTERM: exit 0, the workers stopped after the server drained; a restart keeps the inventory, the leases
    and the counters."""
    srv = ctx.dep.catalog
    srv.close_channel()
    rc, elapsed = srv.terminate()
    if rc is None:
        srv.kill()
        raise Failure(f"{srv.name} still running {SHUTDOWN_LIMIT:.0f}s after SIGTERM (killed it); log:\n"
                      f"{tail(srv.log_path)}")
    check_eq(rc, 0, f"{srv.name}: exit code after SIGTERM ({elapsed:.2f}s)")
    check_workers_stopped(srv)
    srv.start()
    kept = ctx.kept_lease
    if kept is not None:
        kind, res = ctx.resolve(kept.phone_number, time.time())
        check(kind == "OK" and res.id == kept.id, f"Resolve after the restart: expected lease {kept.id}, got "
                                                  f"{show(res)}")
        check_eq(ok("GetLease after the restart", ctx.internal.GetLease, C.GetLeaseRequest(lease_id=kept.id)).expire_time,
                 kept.expire_time, "the extended expire_time after the restart")
    if ctx.kept_stock is not None:
        country, want = ctx.kept_stock
        check_eq((ctx.stock(country), ctx.stock(country, "wa"), ctx.stock(country, "tg")), want,
                 f"{country} stock (overall, wa, tg) after the restart")
    check_eq(ctx.offers("wa")["US"].price, money(150, "USD"), "the US wa price after the restart")
    check_eq(len(ok("ListNumbers(US)", ctx.admin.ListNumbers, C.ListNumbersRequest(country_code="US")).numbers), 4,
             "US numbers after the restart (the seed overwrote nothing)")


def t_logs_clean(ctx: Ctx):
    note(ctx.dep.check_logs_clean())


RPC_SUITE = [
    ("health", t_health),
    ("reflection_v1_v1alpha", t_reflection),
    ("reflection_grpcurl", t_reflection_grpcurl),
    ("seed", t_seed),
    ("import_numbers", t_import),
    ("customer_view", t_customer_view),
    ("access", t_access),
    ("lease_release_resolve", t_lease),
    ("mark_skipped", t_skip),
    ("rental_quarantine", t_rental_quarantine),
    ("concurrent_leases", t_concurrent_leases),
    ("concurrent_same_request_id", t_concurrent_same_request),
    ("stock_counters", t_stock_counters),
    ("invalid_arguments", t_invalid),
    ("metrics", t_metrics),
    ("sigterm_and_restart", t_restart),
    ("no_secrets_in_logs", t_logs_clean),
]


# ---------------------------------------------------------------------------
# scenarios
# ---------------------------------------------------------------------------


def suite_names(scenario: str) -> list:
    return [f"{scenario}/{n}" for n, _ in RPC_SUITE]


def run_server_scenario(runner: Runner, scenario: str, dep: Deployment):
    ctx = Ctx(scenario, dep)
    names = [f"{scenario}/start"] + suite_names(scenario)
    if not any(runner.wanted(n) for n in names):
        return
    before = len(runner.failed)

    def start():
        dep.start()
        ctx.setup()

    try:
        if not runner.run(f"{scenario}/start", start, force=True):
            runner.not_run(names[1:], "the servers did not start")
            return
        for i, (name, fn) in enumerate(RPC_SUITE):
            runner.run(f"{scenario}/{name}", fn, ctx)
            if not dep.running():
                dead = [f"{p.name} (exit code {p.proc.returncode})" for p in dep.processes() if not p.running()]
                runner.fail(f"{scenario}/servers_alive", f"{', '.join(dead)} died during {name}")
                runner.not_run([f"{scenario}/{n}" for n, _ in RPC_SUITE[i + 1:]], "a server died")
                return
    finally:
        dep.kill()
        if len(runner.failed) > before:
            print(f"---- {scenario}: server logs in {dep.workdir}", flush=True)
            dump_logs(dep)


def scenario_postgres(runner: Runner):
    scenario = "postgres"
    names = [f"{scenario}/reachable", f"{scenario}/migrate"] + suite_names(scenario)
    if not any(runner.wanted(n) for n in names):
        return
    why = postgres_unreachable()
    if why:
        if os.environ.get("CI") == "true":
            runner.fail(f"{scenario}/reachable", f"PostgreSQL is mandatory under CI=true but unreachable: {why}")
            return
        bar = "!" * 78
        print(f"{bar}\n!! SKIPPING the PostgreSQL scenario: {why}\n"
              f"!! (set NUMHUB_TEST_POSTGRES_URL or start PostgreSQL; under CI=true this is a failure)\n{bar}",
              flush=True)
        runner.skipped.append((f"{scenario}/*", why))
        return
    runner.passed.append(f"{scenario}/reachable")
    print(f"PASS {scenario}/reachable", flush=True)
    try:
        dbs = FreshDatabases("accounts", "catalog").__enter__()
    except Failure as e:
        runner.fail(f"{scenario}/create_database", str(e))
        return
    try:
        wd = runner.workdir("catalog-postgres")
        url = dbs.url("catalog")

        def migrate():
            for attempt in (1, 2):
                r = run_binary(ARGS.catalog_binary, ["migrate"], wd, {"NUMHUB_DATABASE_URL": url})
                check_eq(r.returncode, 0, f"exit code of `numhub-catalog migrate` (run {attempt}) against {url} "
                                          f"(stderr: {r.stderr.decode(errors='replace')[-2000:]!r})")
            p = psql(url, "SELECT count(*) FROM information_schema.tables "
                          "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')")
            check(p.returncode == 0 and int(p.stdout.strip() or 0) > 0,
                  f"`migrate` left no tables in {url}: {p.stdout.strip()} {p.stderr.strip()}")

        if not runner.run(f"{scenario}/migrate", migrate):
            runner.not_run(suite_names(scenario), "migrate failed")
            return
        dep = Deployment("catalog-pg", wd, wallet=False, catalog=True, accounts_db=dbs.url("accounts"),
                         catalog_db=url)
        run_server_scenario(runner, scenario, dep)
    finally:
        dbs.__exit__(None, None, None)


def scenario_sqlite(runner: Runner):
    scenario = "sqlite"
    if not any(runner.wanted(n) for n in [f"{scenario}/start"] + suite_names(scenario)):
        return
    wd = runner.workdir("catalog-sqlite")
    dep = Deployment("catalog-sqlite", wd, wallet=False, catalog=True)
    run_server_scenario(runner, scenario, dep)


def main() -> int:
    runner = Runner("test_catalog.py")
    if runner.binaries_ok((ARGS.accounts_binary, ARGS.catalog_binary)):
        print(f"numhub catalog e2e: binaries {ARGS.accounts_binary} {ARGS.catalog_binary}", flush=True)
        scenario_postgres(runner)
        scenario_sqlite(runner)
    return runner.finish()


if __name__ == "__main__":
    sys.exit(main())
