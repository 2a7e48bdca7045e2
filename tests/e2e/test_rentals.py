#!/usr/bin/env python3
"""End-to-end tests of numhub rentals, judged as an outside client.

The client is generated from the protos in proto/ with Python's gRPC toolchain
(see run.sh); nothing here links against the Rust code. Every check talks to
six real processes over gRPC, sharing a service credential:
`numhub-accounts` (API keys), `numhub-wallet` (the money), `numhub-catalog`
(numbers and rental plans), `numhub-rentals` (the service under test),
`numhub-orders` (whose WatchMessages carries rental messages too) and
`numhub-inbound` (SMS come in through InboundInternalService.Deliver with the
service credential, as a SIM bank sends them, and inbound routes those of
rented numbers to rentals).

The operator (admin key) stocks the US with VoIP numbers and sets rental plans
with CatalogAdminService.SetRentalPlan: US VoIP for one day, three days, seven
days and one month (the default package), a WhatsApp-only month (a service's
plan replaces the general one), and a German month with no German number.
Customers (accounts made by the operator, each check its own, with roomy
quotas) use RentalsService with their read + write key, and the operator
tops up their wallets, so every balance is judged exactly.

Rentals runs with:
  * NUMHUB_RENTALS_REFUND_WINDOW=20s, so a cancel after the window can be
    judged while the suite runs ("refund_window_arm" rents first,
    "refund_window_closed" cancels after the window);
  * NUMHUB_RENTALS_RENEW_BEFORE=2days, NUMHUB_RENTALS_RENEW_RETRY=2s,
    NUMHUB_RENTALS_WORKER_INTERVAL=200ms, NUMHUB_RENTALS_RECOVERY_AFTER=30s
    (the default, explicit) and NUMHUB_SHUTDOWN_GRACE=4s.

Auto-renew and expiry in real time. No setting makes a fresh rental due:
auto-renew's lead is min(NUMHUB_RENTALS_RENEW_BEFORE, half the renewal
package) before the expiry (services/rentals/src/renewal.rs), and a rental
just bought has its whole package ahead, so the shortest (one day) is due
12 hours after its purchase at the earliest. The suite checks that a fresh
one-day rental is NOT renewed at once with RENEW_BEFORE=2days (the cap), and
then, to see the workers act in seconds, moves a rental's stored expiry
forward in rentals' own database (one UPDATE of `rentals.expires_at`, and
`claimed_until` reset; the catalog's lease is left as it is, ending later):
the auto-renew worker then charges the current price and adds the package
to that expiry, refuses (INSUFFICIENT_BALANCE) and retries, and the expiry
worker ends a rental without auto-renew. Everything else is observed through
the gRPC surfaces only.

Scenarios:
  * postgres - fresh databases numhub_e2e_<random>_{accounts,wallet,catalog,
               rentals,orders,inbound}, `numhub-rentals migrate` (twice), then
               the suite. Skipped loudly when PostgreSQL is unreachable,
               unless CI=true, where it is mandatory.
  * sqlite   - the same suite on the default SQLite stores under ./data.

Usage: test_rentals.py [--accounts-binary PATH] [--wallet-binary PATH]
                       [--catalog-binary PATH] [--rentals-binary PATH]
                       [--orders-binary PATH] [--inbound-binary PATH]
                       [--gen target/e2e-gen] [-k SUBSTRING] [--keep]
The last line printed is always "N passed, M failed"; the exit code is 0 only
when nothing failed.
"""

from __future__ import annotations

import calendar
import concurrent.futures
import datetime
import os
import sqlite3
import subprocess
import sys
import threading
import time
import uuid

from google.protobuf import timestamp_pb2

from e2e_common import (  # noqa: E402
    Watch, secs, ts, wait_for,
    ABORTED, ARGS, FAILED_PRECONDITION, INVALID_API_KEY, INVALID_ARGUMENT, MISSING_CREDENTIAL, MISSING_SCOPE, NOT_FOUND,
    PERMISSION_DENIED, READ, RENTALS_SERVICES, SERVICE_CREDENTIAL_REQUIRED, UNAUTHENTICATED, UNAVAILABLE, WRITE,
    C, Deployment, ErrorDetails, Failure, FreshDatabases, I, O, R, Runner, W, check, check_details, check_error,
    check_eq, check_health, check_reflection, check_reflection_grpcurl, check_uuid7, dump_logs, money, note, ok,
    outcome, postgres_unreachable, psql, rid, run_binary, show, tail,
)

# Quotas of the test accounts: they rent and read a lot.
ROOMY = (100_000, 100_000)

# Rentals' configuration in these tests.
REFUND_WINDOW = 20.0
WORKER_INTERVAL = 0.2
RENEW_RETRY = 2.0
RECOVERY_AFTER = 30.0
GRACE = 4.0
RENTALS_ENV = {
    "NUMHUB_RENTALS_REFUND_WINDOW": f"{int(REFUND_WINDOW)}s",
    "NUMHUB_RENTALS_RENEW_BEFORE": "2days",
    "NUMHUB_RENTALS_RENEW_RETRY": f"{int(RENEW_RETRY)}s",
    "NUMHUB_RENTALS_RECOVERY_AFTER": f"{int(RECOVERY_AFTER)}s",
    "NUMHUB_RENTALS_WORKER_INTERVAL": f"{int(WORKER_INTERVAL * 1000)}ms",
    "NUMHUB_SHUTDOWN_GRACE": f"{int(GRACE)}s",
}
ORDERS_ENV = {"NUMHUB_ORDERS_WORKER_INTERVAL": "200ms"}
ROUTE_INTERVAL = 0.1
MAX_BACKOFF = 2.0
INBOUND_ENV = {
    "NUMHUB_INBOUND_ROUTE_INTERVAL": f"{int(ROUTE_INTERVAL * 1000)}ms",
    "NUMHUB_INBOUND_MAX_BACKOFF": f"{int(MAX_BACKOFF)}s",
    "NUMHUB_INBOUND_WEBHOOK_ADDR": "off",
}

# Packages and number types.
VOIP = C.NUMBER_TYPE_VOIP
ONE_DAY, THREE_DAYS, SEVEN_DAYS = C.RENTAL_DURATION_ONE_DAY, C.RENTAL_DURATION_THREE_DAYS, C.RENTAL_DURATION_SEVEN_DAYS
ONE_MONTH, ONE_YEAR = C.RENTAL_DURATION_ONE_MONTH, C.RENTAL_DURATION_ONE_YEAR
DAYS = {ONE_DAY: 1, THREE_DAYS: 3, SEVEN_DAYS: 7, C.RENTAL_DURATION_FOURTEEN_DAYS: 14,
        C.RENTAL_DURATION_THIRTY_DAYS: 30}
MONTHS = {ONE_MONTH: 1, C.RENTAL_DURATION_THREE_MONTHS: 3, C.RENTAL_DURATION_SIX_MONTHS: 6, ONE_YEAR: 12}

# What the operator sells (US VoIP, general plans unless a service is named).
DAY_US, THREE_US, WEEK_US, MONTH_US, WA_MONTH_US, MONTH_DE = 300, 500, 900, 2500, 1800, 2000
THREE_US_LATER = 650  # the three-day plan's price after the operator raises it
DAY_US_LATER = 350  # the one-day plan's price when auto-renew charges
WA_ACTIVATION_US = 150
US_NUMBERS = [f"+1202555{i:04d}" for i in range(5000, 5080)]

# Statuses.
CREATING, ACTIVE, EXPIRED = R.RENTAL_STATUS_CREATING, R.RENTAL_STATUS_ACTIVE, R.RENTAL_STATUS_EXPIRED
CANCELLED, FAILED = R.RENTAL_STATUS_CANCELLED, R.RENTAL_STATUS_FAILED
PENDING, ROUTED, UNROUTED = I.ROUTE_STATE_PENDING, I.ROUTE_STATE_ROUTED, I.ROUTE_STATE_UNROUTED

# Reasons (ErrorInfo.reason, domain numhub.dev).
INSUFFICIENT_BALANCE = "INSUFFICIENT_BALANCE"
PRICE_ABOVE_MAX = "PRICE_ABOVE_MAX"
NO_NUMBERS_AVAILABLE = "NO_NUMBERS_AVAILABLE"
NOT_OFFERED = "NOT_OFFERED"
IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
RESOURCE_NOT_FOUND = "RESOURCE_NOT_FOUND"
INVALID_FIELD = "INVALID_FIELD"
NUMBER_EXPIRED = "NUMBER_EXPIRED"
RENTAL_ENDED = "RENTAL_ENDED"
OTHER_SERVICE = "OTHER_SERVICE"
REQUEST_IN_PROGRESS = "REQUEST_IN_PROGRESS"
NO_HOLDER, HOLDER_ENDED = "NO_HOLDER", "HOLDER_ENDED"

# How soon an SMS given to inbound must reach an open stream ("at once"; a
# few seconds here, for slow CI machines).
ROUTE_LIMIT = 5.0
# How soon a worker must have acted on something due.
WORKER_LIMIT = WORKER_INTERVAL * 10 + 3.0
# How soon a message held back while rentals was down must be routed once
# it is back: the longest backoff (+20%), a routing interval, and slack.
RECOVERY_LIMIT = MAX_BACKOFF * 1.2 + ROUTE_INTERVAL + 3.0
# How soon a stream must end after SIGTERM ("promptly": well inside the grace).
STREAM_END_LIMIT = 2.0


# ---------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------


def micros(t: timestamp_pb2.Timestamp) -> int:
    return t.seconds * 1_000_000 + t.nanos // 1000


def package_end(start_us: int, duration) -> int:
    """When a package that starts at `start_us` ends, as catalog.proto says:
    days are exact multiples of 24 hours, months calendar months from the
    start's day of the month, clamped to the month's last day (UTC)."""
    day = 86_400_000_000
    if duration in DAYS:
        return start_us + DAYS[duration] * day
    days, time_of_day = divmod(start_us, day)
    d = datetime.date(1970, 1, 1) + datetime.timedelta(days=days)
    total = d.month - 1 + MONTHS[duration]
    year, month = d.year + total // 12, total % 12 + 1
    end = datetime.date(year, month, min(d.day, calendar.monthrange(year, month)[1]))
    return (end - datetime.date(1970, 1, 1)).days * day + time_of_day


def status_name(value) -> str:
    try:
        return R.RentalStatus.Name(value)
    except ValueError:
        return str(value)


def state_name(value) -> str:
    try:
        return I.RouteState.Name(value)
    except ValueError:
        return str(value)


def duration_name(value) -> str:
    try:
        return C.RentalDuration.Name(value)
    except ValueError:
        return str(value)


def usd(units: int):
    return money(units, "USD")


def changes_of(events) -> list:
    """The `changed` rentals of WatchRental events."""
    return [e.changed for e in events if e.WhichOneof("event") == "changed"]


def statuses_of(events) -> list:
    return [status_name(r.status) for r in changes_of(events)]


def messages_of(events) -> list:
    return [e.message for e in events if e.WhichOneof("event") == "message"]


def stream_refusal(what: str, method, req, code, reason, field=None) -> ErrorDetails:
    """A server stream that must fail before its first item."""
    w = Watch(what, method, req, timeout=15)
    end = w.wait_end(10)
    w.cancel()
    check(end is not None, f"{what}: the stream did not end within 10s; received {show(w.got())}")
    check(w.error is not None, f"{what}: expected {code.name} ({reason}), the stream ended {end[0]} after "
                               f"{show(w.got())}")
    check_eq(w.got(), [], f"{what}: items before the refusal")
    return check_details(what, w.error, code, reason, field)


# ---------------------------------------------------------------------------
# the test context: one deployment, its customers, what outlives a check
# ---------------------------------------------------------------------------


class Customer:
    """An account made by the operator, with a read + write key and a wallet."""

    def __init__(self, ctx: "Ctx", tag: str, credit: int = 0):
        dep = ctx.dep
        self.ctx = ctx
        self.tag = tag
        self.id = dep.create_account(f"e2e rentals {tag} {ctx.scenario}", rate_limits=ROOMY).id
        self.key = dep.create_key(self.id, scopes=(READ, WRITE), name=f"rentals {tag}").secret
        client = dep.client(self.key)
        self.api = client.rentals
        self.orders = client.orders
        if credit:
            self.credit(credit)

    def credit(self, units: int):
        ok(f"admin Credit({self.tag}, {units})", self.ctx.dep.admin().wallet_admin.Credit,
           W.CreditRequest(account_id=self.id, amount=money(units), request_id=rid(), reason="e2e top-up"))

    def balance(self) -> int:
        b = ok(f"admin GetAccountBalance({self.tag})", self.ctx.dep.admin().wallet_admin.GetAccountBalance,
               W.GetAccountBalanceRequest(account_id=self.id))
        return b.available.minor_units

    def check_balance(self, want: int, what: str, settle: float = 3.0):
        """The balance is `want`, at once or (refunds settle behind the answer)
        within `settle` seconds; notes how long it took."""
        got = self.balance()
        if got == want:
            return
        t0 = time.monotonic()
        while time.monotonic() - t0 < settle:
            time.sleep(0.05)
            got = self.balance()
            if got == want:
                note(f"{self.tag}: balance reached {want} only {time.monotonic() - t0:.2f}s after {what}")
                return
        check_eq(got, want, f"{self.tag}'s balance {what}")

    def create_req(self, country="US", duration=SEVEN_DAYS, service="", auto_renew=None, request_id=None,
                   number_type=0) -> R.CreateRentalRequest:
        req = R.CreateRentalRequest(country_code=country, number_type=number_type, duration=duration,
                                    service_code=service, request_id=request_id or rid())
        if auto_renew is not None:
            req.auto_renew = auto_renew
        return req

    def rent(self, price: int, what: str = "", req=None, **kw) -> R.CreateRentalResponse:
        """CreateRental that must succeed and charge exactly `price`."""
        req = req or self.create_req(**kw)
        what = what or (f"{self.tag}: CreateRental({req.country_code}, {duration_name(req.duration)}"
                        f"{', ' + req.service_code if req.service_code else ''})")
        before_balance = self.balance()
        before = time.time()
        r = ok(what, self.api.CreateRental, req)
        after = time.time()
        x = r.rental
        check_uuid7(x.id, f"{what}: Rental.id")
        want_duration = req.duration or ONE_MONTH
        check_eq((status_name(x.status), x.country_code, x.number_type, x.service_code, x.duration,
                  x.renewal_duration, x.auto_renew),
                 ("RENTAL_STATUS_ACTIVE", req.country_code, req.number_type or VOIP, req.service_code, want_duration,
                  want_duration, req.auto_renew if req.HasField("auto_renew") else True),
                 f"{what}: (status, country_code, number_type, service_code, duration, renewal_duration, "
                 f"auto_renew)")
        check(x.phone_number in US_NUMBERS or req.country_code != "US",
              f"{what}: phone_number {x.phone_number!r} is not one of the imported US numbers")
        check_eq((x.price, x.total_charged, x.refunded.minor_units, x.sms_count, x.renewals),
                 (usd(price), usd(price), 0, 0, 0),
                 f"{what}: (price, total_charged, refunded, sms_count, renewals) of a new rental")
        check_eq((x.auto_renew_failure, x.HasField("auto_renew_failure_time"), x.failure_reason, list(x.messages),
                  x.HasField("end_time")), ("", False, "", [], False),
                 f"{what}: (auto_renew_failure, has auto_renew_failure_time, failure_reason, messages, has "
                 f"end_time) of a new rental")
        check(before - 2 <= secs(x.create_time) <= after + 2,
              f"{what}: create_time {secs(x.create_time):.3f} is not between {before:.3f} and {after:.3f}")
        check_eq(micros(x.expire_time), package_end(micros(x.create_time), want_duration),
                 f"{what}: expire_time (µs) = create_time + {duration_name(want_duration)}")
        check_eq((r.charged, r.balance_after), (usd(price), usd(before_balance - price)),
                 f"{what}: (charged, balance_after); the balance was {before_balance}")
        self.check_balance(before_balance - price, f"after {what} (the price taken)", settle=0)
        self.ctx.kept.append((self, x.id))
        return r

    def get(self, rental_id: str, what: str = "") -> R.Rental:
        return ok(what or f"{self.tag}: GetRental({rental_id})", self.api.GetRental, R.GetRentalRequest(id=rental_id))

    def wait_rental(self, rental_id: str, what: str, pred, limit: float = WORKER_LIMIT):
        """Polls GetRental until pred(rental); returns (rental, seconds)."""
        last = [None]

        def fn():
            x = self.get(rental_id)
            last[0] = x
            return x if pred(x) else None
        try:
            return wait_for(what, fn, limit, step=0.05)
        except Failure as e:
            raise Failure(f"{e}; last seen {show(last[0])}")

    def listed(self, filter_=R.RENTAL_FILTER_UNSPECIFIED, page_size: int = 0) -> list:
        """ListRentals, every page."""
        out, token, pages = [], "", 0
        while True:
            pages += 1
            check(pages <= 50, "ListRentals paged more than 50 times")
            r = ok(f"{self.tag}: ListRentals({R.RentalFilter.Name(filter_)}, page_size={page_size})",
                   self.api.ListRentals, R.ListRentalsRequest(filter=filter_, page_size=page_size, page_token=token))
            if page_size:
                check(len(r.rentals) <= page_size, f"ListRentals(page_size={page_size}) returned {len(r.rentals)}")
            out.extend(r.rentals)
            if not r.next_page_token:
                return out
            token = r.next_page_token


class Ctx:
    def __init__(self, scenario: str, dep: Deployment, rentals_db: str):
        self.scenario = scenario
        self.dep = dep
        self.rentals_db = rentals_db  # postgres URL, or the SQLite file
        self.kept: list = []  # (customer, rental id) rented so far
        self.window = None  # what refund_window_arm rented
        self.flow = None  # (customer, rental, its messages) of the SMS check
        self.snapshot = None  # rentals as GetRental showed them before the SIGTERM
        self.stopped = set()  # processes stopped on purpose, not yet restarted
        self.unrouted_bodies: list = []  # SMS that must reach no rental
        self.held = None  # the SMS given to inbound while rentals was down

    @property
    def internal(self):
        return self.dep.internal().rentals_internal

    @property
    def intake(self):
        return self.dep.internal().inbound_internal

    def setup(self):
        """The operator's stock and plans."""
        admin = self.dep.admin().catalog_admin
        rows = [C.NumberImport(phone_number=p, country_code="US", number_type=VOIP, source="e2e")
                for p in US_NUMBERS]
        r = ok(f"ImportNumbers of {len(rows)} US numbers", admin.ImportNumbers, C.ImportNumbersRequest(numbers=rows))
        check_eq((r.imported_count, list(r.rejected)), (len(rows), []), "ImportNumbers (imported_count, rejected)")
        for country, duration, units, service in (("US", ONE_DAY, DAY_US, ""), ("US", THREE_DAYS, THREE_US, ""),
                                                  ("US", SEVEN_DAYS, WEEK_US, ""), ("US", ONE_MONTH, MONTH_US, ""),
                                                  ("US", ONE_MONTH, WA_MONTH_US, "wa"),
                                                  ("DE", ONE_MONTH, MONTH_DE, "")):
            self.plan(country, duration, units, service)
        ok(f"SetActivationPrice(wa, US, {WA_ACTIVATION_US})", admin.SetActivationPrice,
           C.SetActivationPriceRequest(service_code="wa", country_code="US", price=money(WA_ACTIVATION_US)))

    def plan(self, country: str, duration, units: int, service: str = "") -> C.RentalPlan:
        what = f"SetRentalPlan({country}, VOIP, {duration_name(duration)}, {service!r}, {units})"
        p = ok(what, self.dep.admin().catalog_admin.SetRentalPlan,
               C.SetRentalPlanRequest(country_code=country, number_type=VOIP, service_code=service,
                                      duration=duration, price=money(units)))
        check_eq((p.country_code, p.duration, p.service_code, p.price), (country, duration, service, usd(units)),
                 f"{what}: the plan returned")
        return p

    def customer(self, tag: str, credit: int = 0) -> Customer:
        return Customer(self, tag, credit)

    # --- SMS, as a SIM bank hands them to inbound -------------------------

    def sms_req(self, to: str, body: str, sender: str = "WhatsApp", at=None) -> I.DeliverRequest:
        return I.DeliverRequest(upstream="simbank-e2e", upstream_message_id=rid(), to=to, sender=sender, body=body,
                                receive_time=ts(at if at is not None else time.time()))

    def sms(self, to: str, body: str, sender: str = "WhatsApp", at=None) -> tuple:
        """Gives inbound an SMS; returns (request, stored InboundMessage)."""
        req = self.sms_req(to, body, sender, at)
        r = ok(f"inbound Deliver(to {to}, {body!r})", self.intake.Deliver, req)
        check_eq(r.duplicate, False, f"inbound Deliver(to {to}, {body!r}): duplicate on a first delivery")
        return req, r.message

    def stored(self, req: I.DeliverRequest, what: str = "") -> I.InboundMessage:
        """Inbound's stored message, read by delivering the same SMS again (the
        contract answers a repeat with the stored message, `duplicate` set)."""
        r = ok(what or "inbound Deliver again (to read the message's state)", self.intake.Deliver, req)
        check_eq(r.duplicate, True, f"{what or 'a repeated Deliver'}: duplicate")
        return r.message

    def wait_state(self, req: I.DeliverRequest, state, limit: float, what: str) -> tuple:
        last = [None]

        def fn():
            m = self.stored(req, f"{what}: Deliver again to read the state")
            last[0] = m
            return m if m.state == state else None
        try:
            return wait_for(f"{what}: the message reaches {state_name(state)}", fn, limit, step=0.05)
        except Failure as e:
            m = last[0]
            raise Failure(f"{e}; last seen {state_name(m.state) if m else None} "
                          f"(reason {m.unrouted_reason if m else ''!r}, holder {m.holder_id if m else ''!r})")

    def direct_req(self, rental_id: str, body: str, sender: str = "WhatsApp", at=None,
                   inbound_id=None) -> R.DeliverMessageRequest:
        return R.DeliverMessageRequest(rental_id=rental_id, inbound_message_id=inbound_id or rid(), sender=sender,
                                       body=body, receive_time=ts(at if at is not None else time.time()))

    # --- the rentals database, for the real-time auto-renew and expiry -----

    def move_expiry(self, rental_id: str, expire_at: float) -> int:
        """Sets an ACTIVE rental's stored expiry to `expire_at` (and lets any
        worker claim it at once); returns the new expiry in µs."""
        us = int(round(expire_at * 1_000_000))
        sql = (f"UPDATE rentals SET expires_at = {us}, claimed_until = 0 "
               f"WHERE id = '{rental_id}' AND status = 2")
        if self.rentals_db.startswith("postgres"):
            p = psql(self.rentals_db, sql + " RETURNING id")
            check(p.returncode == 0 and p.stdout.split()[:1] == [rental_id],
                  f"moving the expiry of rental {rental_id} in {self.rentals_db}: {p.stdout.strip()!r} "
                  f"{p.stderr.strip()!r}")
        else:
            con = sqlite3.connect(self.rentals_db, timeout=30)
            try:
                n = con.execute(sql).rowcount
                con.commit()
            finally:
                con.close()
            check_eq(n, 1, f"rows updated moving the expiry of rental {rental_id} in {self.rentals_db}")
        return us


# ---------------------------------------------------------------------------
# the checks; each takes a Ctx
# ---------------------------------------------------------------------------


def t_health_and_access(ctx: Ctx):
    """Health and reflection list both services; internal RPCs refuse API keys; scopes and credentials."""
    dep = ctx.dep
    check_health(dep.rentals, RENTALS_SERVICES)
    check_reflection(dep.rentals, RENTALS_SERVICES)
    check_reflection_grpcurl(dep.rentals, RENTALS_SERVICES)
    c = ctx.customer("outsider", credit=100)
    deliver = ctx.direct_req(str(uuid.uuid4()), "Your WhatsApp code is 135-790")
    for who, client in (("a customer's API key", dep.client(c.key)), ("the admin key", dep.admin())):
        check_error(f"DeliverMessage with {who}", client.rentals_internal.DeliverMessage, deliver, PERMISSION_DENIED,
                    SERVICE_CREDENTIAL_REQUIRED)
        stream_refusal(f"WatchAccountMessages with {who}", client.rentals_internal.WatchAccountMessages,
                       R.WatchAccountMessagesRequest(account_id=c.id), PERMISSION_DENIED,
                       SERVICE_CREDENTIAL_REQUIRED)
    check_error("DeliverMessage without a credential", dep.anonymous().rentals_internal.DeliverMessage, deliver,
                UNAUTHENTICATED, MISSING_CREDENTIAL)
    check_error("DeliverMessage to an unknown rental with the service credential", ctx.internal.DeliverMessage,
                deliver, NOT_FOUND, RESOURCE_NOT_FOUND)
    # The service credential is not an API key: the customers' RPCs refuse it.
    check_error("ListRentals with the service credential", dep.internal().rentals.ListRentals,
                R.ListRentalsRequest(), UNAUTHENTICATED, INVALID_API_KEY)
    check_error("ListRentals without a credential", dep.anonymous().rentals.ListRentals, R.ListRentalsRequest(),
                UNAUTHENTICATED, MISSING_CREDENTIAL)
    # Scopes: a read-only key reads, and cannot rent.
    ro = dep.create_key(c.id, scopes=(READ,), name="rentals read-only").secret
    ok("ListRentals with a read-only key", dep.client(ro).rentals.ListRentals, R.ListRentalsRequest())
    check_error("CreateRental with a read-only key", dep.client(ro).rentals.CreateRental, c.create_req(),
                PERMISSION_DENIED, MISSING_SCOPE)
    c.check_balance(100, "after the refused calls", settle=0)
    # The feed orders follows answers the service credential (nothing yet for this account).
    w = Watch("WatchAccountMessages with the service credential", ctx.internal.WatchAccountMessages,
              R.WatchAccountMessagesRequest(account_id=c.id), timeout=10)
    time.sleep(0.5)
    end = w.end
    w.cancel()
    check(end is None, f"WatchAccountMessages with the service credential ended: {end}")
    check_eq(w.got(), [], "WatchAccountMessages of an account without rentals")


def t_refund_window_arm(ctx: Ctx):
    """Rents a number no SMS will reach; "refund_window_closed" cancels it after the refund window."""
    c = ctx.customer("late canceller", credit=1000)
    r = c.rent(WEEK_US).rental
    ctx.window = (c, r)


def t_create(ctx: Ctx):
    """CreateRental charges the plan's price, once per request_id; defaults; service plans; reused keys."""
    c = ctx.customer("buyer", credit=10_000)
    req = c.create_req(duration=SEVEN_DAYS)
    first = c.rent(WEEK_US, req=req)
    again = ok("CreateRental retried with the same request_id", c.api.CreateRental, req)
    check_eq((again.rental.id, again.rental.phone_number, again.rental.expire_time, again.charged,
              again.balance_after),
             (first.rental.id, first.rental.phone_number, first.rental.expire_time, first.charged,
              first.balance_after),
             "the retried CreateRental (rental id, phone_number, expire_time, charged, balance_after)")
    time.sleep(0.3)
    c.check_balance(10_000 - WEEK_US, "after CreateRental and its retry (charged once)", settle=0)
    for what, other in (("duration", c.create_req(duration=ONE_DAY, request_id=req.request_id)),
                        ("auto_renew", c.create_req(duration=SEVEN_DAYS, auto_renew=False,
                                                    request_id=req.request_id)),
                        ("service_code", c.create_req(duration=SEVEN_DAYS, service="wa",
                                                      request_id=req.request_id)),
                        ("country_code", c.create_req(country="DE", duration=SEVEN_DAYS,
                                                      request_id=req.request_id))):
        check_error(f"CreateRental reusing the request_id with another {what}", c.api.CreateRental, other,
                    FAILED_PRECONDITION, IDEMPOTENCY_KEY_REUSED)
    c.check_balance(10_000 - WEEK_US, "after the reused request_ids (nothing charged)", settle=0)

    # The defaults: a month's package, VoIP, auto-renew on.
    month = c.rent(MONTH_US, what="CreateRental(US) with neither duration nor number_type nor auto_renew",
                   req=c.create_req(duration=0)).rental
    off = c.rent(WEEK_US, what="CreateRental(US, 7 days, auto_renew=false)", auto_renew=False).rental
    # A service's own plan replaces the general one.
    wa = c.rent(WA_MONTH_US, what="CreateRental(US, 1 month, wa): the wa plan", duration=ONE_MONTH,
                service="wa").rental
    numbers = [first.rental.phone_number, month.phone_number, off.phone_number, wa.phone_number]
    check_eq(len(set(numbers)), 4, f"numbers of four rentals held at once (each its own): {numbers}")
    spent = WEEK_US + MONTH_US + WEEK_US + WA_MONTH_US

    # The same new request sent six times at once: one rental, one charge.
    same = c.create_req(duration=ONE_DAY)
    barrier = threading.Barrier(6)

    def one(_):
        barrier.wait(10)
        return outcome(c.api.CreateRental, same)
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        results = list(pool.map(one, range(6)))
    answered = [res for kind, res in results if kind == "OK"]
    busy = [res for kind, res in results if kind != "OK" and (res.code, res.reason) == (ABORTED, REQUEST_IN_PROGRESS)]
    wrong = [str(res) for kind, res in results if kind != "OK" and res not in busy]
    check(not wrong, f"CreateRental x6 at once with one request_id: {len(wrong)} answered neither the rental nor "
                     f"ABORTED {REQUEST_IN_PROGRESS}: {wrong[:3]}")
    check(answered, "CreateRental x6 at once with one request_id: none answered the rental")
    if busy:
        note(f"{len(busy)} of 6 concurrent CreateRental calls answered ABORTED {REQUEST_IN_PROGRESS}")
    final = ok("CreateRental retried after the concurrent calls", c.api.CreateRental, same)
    ids = {res.rental.id for res in answered} | {final.rental.id}
    check_eq(len(ids), 1, f"rental ids answered to one request_id sent 6 times at once: {sorted(ids)}")
    check_eq((status_name(final.rental.status), final.charged), ("RENTAL_STATUS_ACTIVE", usd(DAY_US)),
             "the rental of the concurrent request (status, charged)")
    ctx.kept.append((c, final.rental.id))
    spent += DAY_US
    time.sleep(0.3)
    c.check_balance(10_000 - spent, "after the concurrent CreateRental calls (charged once)", settle=0)

    listed = c.listed()
    check_eq([x.id for x in listed], [final.rental.id, wa.id, off.id, month.id, first.rental.id],
             "ListRentals (newest first)")
    check(all(not x.messages for x in listed), "ListRentals returned rentals with messages")
    check_eq([x.id for x in c.listed(R.RENTAL_FILTER_ACTIVE)], [x.id for x in listed], "ListRentals(ACTIVE)")
    check_eq([x.id for x in c.listed(R.RENTAL_FILTER_EXPIRING_SOON)], [final.rental.id, off.id, first.rental.id],
             "ListRentals(EXPIRING_SOON): the one-day and seven-day rentals, not the months")
    check_eq([x.id for x in c.listed(page_size=2)], [x.id for x in listed], "ListRentals in pages of 2")
    got = c.get(first.rental.id)
    check_eq((got.id, got.phone_number, got.price, got.create_time, got.expire_time, status_name(got.status)),
             (first.rental.id, first.rental.phone_number, first.rental.price, first.rental.create_time,
              first.rental.expire_time, "RENTAL_STATUS_ACTIVE"),
             "GetRental vs CreateRental's answer (id, phone_number, price, create_time, expire_time, status)")


def t_refusals(ctx: Ctx):
    """Refused purchases charge nothing: no money, no number, not offered, unknown, invalid input."""
    poor = ctx.customer("poor", credit=100)
    req = poor.create_req(duration=SEVEN_DAYS)
    check_error("CreateRental(US, 7 days) with 100 in the wallet", poor.api.CreateRental, req,
                FAILED_PRECONDITION, INSUFFICIENT_BALANCE)
    poor.check_balance(100, "after the refused purchase", settle=0)
    failed = poor.listed()
    check_eq([(status_name(x.status), x.failure_reason, x.phone_number, x.total_charged.minor_units)
              for x in failed], [("RENTAL_STATUS_FAILED", INSUFFICIENT_BALANCE, "", 0)],
             "ListRentals after the refused purchase (status, failure_reason, phone_number, total_charged)")
    check(failed[0].HasField("end_time"), f"the FAILED rental has no end_time: {show(failed[0])}")
    check_eq(poor.listed(R.RENTAL_FILTER_ACTIVE), [], "ListRentals(ACTIVE) after the refused purchase")
    # The retry answers the first result, even once the money is there.
    poor.credit(5000)
    check_error("CreateRental retried with the same request_id after a top-up", poor.api.CreateRental, req,
                FAILED_PRECONDITION, INSUFFICIENT_BALANCE)
    poor.check_balance(5100, "after the retried refusal (nothing charged)", settle=0)
    # The number leased for the refused purchase was given back.
    inv = ok("CheckInventory(US, 7 days, VoIP)", ctx.dep.client(poor.key).catalog.CheckInventory,
             C.CheckInventoryRequest(country_code="US", duration=SEVEN_DAYS, number_type=VOIP))
    check(inv.available, f"CheckInventory(US, 7 days, VoIP) after a refused purchase: {show(inv)}")

    rich = ctx.customer("refused", credit=10_000)
    for what, r, reason in (
            ("CreateRental(DE, 1 month): a plan, no German number", rich.create_req(country="DE", duration=ONE_MONTH),
             NO_NUMBERS_AVAILABLE),
            ("CreateRental(US, 1 year): no plan for the package", rich.create_req(duration=ONE_YEAR), NOT_OFFERED),
            ("CreateRental(GB, 7 days): no plan in the country", rich.create_req(country="GB"), NOT_OFFERED)):
        check_error(what, rich.api.CreateRental, r, FAILED_PRECONDITION, reason)
        check_error(f"{what}, retried", rich.api.CreateRental, r, FAILED_PRECONDITION, reason)
    check_error("CreateRental(XX): an unknown country", rich.api.CreateRental, rich.create_req(country="XX"),
                NOT_FOUND, RESOURCE_NOT_FOUND)
    check_error("CreateRental(US, service zz9): an unknown service", rich.api.CreateRental,
                rich.create_req(service="zz9"), NOT_FOUND, RESOURCE_NOT_FOUND)
    rich.check_balance(10_000, "after the refused purchases", settle=0)
    listed = rich.listed()
    check(all(x.status == FAILED for x in listed),
          f"rentals after refused purchases, expected none but FAILED ones: {[status_name(x.status) for x in listed]}")
    check(all(x.failure_reason in (NO_NUMBERS_AVAILABLE, NOT_OFFERED, RESOURCE_NOT_FOUND) and not x.phone_number
              and x.total_charged.minor_units == 0 for x in listed),
          f"the FAILED rentals (failure_reason, phone_number, total_charged): "
          f"{[(x.failure_reason, x.phone_number, x.total_charged.minor_units) for x in listed]}")
    note(f"refused purchases listed as FAILED rentals: {sorted(x.failure_reason for x in listed)}")

    # Invalid input, each naming its field; nothing charged.
    bad = [
        ("country_code empty", rich.create_req(country=""), "country_code"),
        ("country_code 'usa'", rich.create_req(country="usa"), "country_code"),
        ("country_code 'us'", rich.create_req(country="us"), "country_code"),
        ("duration 42", rich.create_req(duration=42), "duration"),
        ("number_type 42", rich.create_req(number_type=42), "number_type"),
        ("service_code 'WA!'", rich.create_req(service="WA!"), "service_code"),
        ("request_id empty", R.CreateRentalRequest(country_code="US", duration=SEVEN_DAYS), "request_id"),
        ("request_id of 256 characters", rich.create_req(request_id="r" * 256), "request_id"),
    ]
    for what, r, field in bad:
        check_error(f"CreateRental with {what}", rich.api.CreateRental, r, INVALID_ARGUMENT, INVALID_FIELD, field)
    some = str(uuid.uuid4())
    for what, fn, r, field in (
            ("GetRental(id 'nope')", rich.api.GetRental, R.GetRentalRequest(id="nope"), "id"),
            ("GetRental(id empty)", rich.api.GetRental, R.GetRentalRequest(), "id"),
            ("RenewRental without request_id", rich.api.RenewRental, R.RenewRentalRequest(id=some), "request_id"),
            ("RenewRental(duration 42)", rich.api.RenewRental,
             R.RenewRentalRequest(id=some, duration=42, request_id=rid()), "duration"),
            ("CancelRental without request_id", rich.api.CancelRental, R.CancelRentalRequest(id=some), "request_id"),
            ("CancelRental(id 'nope')", rich.api.CancelRental, R.CancelRentalRequest(id="nope", request_id=rid()),
             "id"),
            ("SetAutoRenew(id 'nope')", rich.api.SetAutoRenew, R.SetAutoRenewRequest(id="nope", auto_renew=True),
             "id"),
            ("ListRentals(page_size 101)", rich.api.ListRentals, R.ListRentalsRequest(page_size=101), "page_size"),
            ("ListRentals(filter 42)", rich.api.ListRentals, R.ListRentalsRequest(filter=42), "filter"),
            ("ListRentals(page_token 'garbage')", rich.api.ListRentals,
             R.ListRentalsRequest(page_token="garbage!"), "page_token"),
            ("ListMessages without phone_number", rich.api.ListMessages, R.ListMessagesRequest(), "phone_number"),
            ("ListMessages(page_size 101)", rich.api.ListMessages,
             R.ListMessagesRequest(phone_number=US_NUMBERS[0], page_size=101), "page_size")):
        check_error(what, fn, r, INVALID_ARGUMENT, INVALID_FIELD, field)
    stream_refusal("WatchRental(id 'nope')", rich.api.WatchRental, R.WatchRentalRequest(id="nope"), INVALID_ARGUMENT,
                   INVALID_FIELD, "id")
    rich.check_balance(10_000, "after the invalid requests", settle=0)


def t_sms_flow(ctx: Ctx):
    """inbound Deliver -> WatchRental (live, with the code) and orders' WatchMessages (rental_id); the inbox;
    ListMessages polling."""
    c = ctx.customer("texted", credit=5000)
    r = c.rent(WEEK_US).rental
    w = Watch("WatchRental of the new rental", c.api.WatchRental, R.WatchRentalRequest(id=r.id))
    wm = Watch("orders' WatchMessages of the renter", c.orders.WatchMessages, O.WatchMessagesRequest())
    try:
        w.wait("the ACTIVE change", lambda items: "RENTAL_STATUS_ACTIVE" in statuses_of(items), 5)
        first = changes_of(w.got())[0]
        check_eq((first.id, status_name(first.status), first.phone_number, list(first.messages)),
                 (r.id, "RENTAL_STATUS_ACTIVE", r.phone_number, []),
                 "WatchRental's first event (rental id, status, phone_number, messages)")
        time.sleep(0.3)  # both streams now wait for live events
        check_eq(wm.got(), [], "orders' WatchMessages before any SMS")
        sent = []  # (inbound request, rental message)

        def text(body, sender, code, service, limit=ROUTE_LIMIT):
            before = len(messages_of(w.got()))
            t0 = time.monotonic()
            req, im = ctx.sms(r.phone_number, body, sender)
            w.wait(f"the message {body!r}", lambda items: len(messages_of(items)) > before, limit)
            took = time.monotonic() - t0
            m = messages_of(w.got())[before]
            check_uuid7(m.id, "Message.id")
            check_eq((m.rental_id, m.phone_number, m.sender, m.body, m.code, m.service_code, m.receive_time),
                     (r.id, r.phone_number, sender, body, code, service, req.receive_time),
                     "the message on WatchRental (rental_id, phone_number, sender, body, code, service_code, "
                     "receive_time)")
            routed, _ = ctx.wait_state(req, ROUTED, ROUTE_LIMIT, f"the SMS {body!r}")
            check_eq((routed.id, routed.holder_id, routed.unrouted_reason), (im.id, r.id, ""),
                     "inbound's routed message (id, holder_id, unrouted_reason)")
            sent.append((req, m))
            return m, took

        m1, took = text("Your WhatsApp code is 482-913. Don't share this code with anyone.", "WhatsApp", "482913",
                        "wa")
        note(f"inbound Deliver -> rentals -> the open WatchRental stream: {took * 1000:.0f} ms")
        wm.wait("the rental's message", lambda items: len(items) >= 1, ROUTE_LIMIT)
        om = wm.got()[0].message
        check_eq((om.id, om.rental_id, om.activation_id, om.phone_number, om.sender, om.body, om.code,
                  om.receive_time),
                 (m1.id, r.id, "", r.phone_number, m1.sender, m1.body, "482913", m1.receive_time),
                 "the rental's message on orders' WatchMessages (id, rental_id, activation_id, phone_number, sender, "
                 "body, code, receive_time)")
        m2, _ = text("Telegram code: 55821", "Telegram", "55821", "tg")

        # An activation's SMS comes on the same WatchMessages stream.
        a = ok("CreateActivation(wa, US) of the renter", c.orders.CreateActivation,
               O.CreateActivationRequest(service_code="wa", country_code="US", request_id=rid()))
        areq, _ = ctx.sms(a.phone_number, "Your WhatsApp code is 111-222", "WhatsApp")
        ctx.wait_state(areq, ROUTED, ROUTE_LIMIT, "the activation's SMS")
        wm.wait("3 messages (2 of the rental, 1 of the activation)", lambda items: len(items) >= 3, ROUTE_LIMIT)
        time.sleep(0.3)
        events = wm.got()
        check_eq(len(events), 3, f"orders' WatchMessages events after 3 SMS: {show(events)}")
        check_eq([e.message.id for e in events if e.message.rental_id], [m1.id, m2.id],
                 "the rental's messages on WatchMessages (in order, each once)")
        am = [e.message for e in events if not e.message.rental_id]
        check_eq([(x.activation_id, x.code) for x in am], [(a.id, "111222")],
                 "the activation's message on WatchMessages (activation_id, code)")
        cursors = [e.cursor for e in events]
        check(all(cursors) and len(set(cursors)) == 3, f"WatchMessages cursors not distinct and non-empty: {cursors}")
        ok("CompleteActivation", c.orders.CompleteActivation, O.CompleteActivationRequest(id=a.id))

        # Resumed after its last cursor: nothing, then only the next message.
        w2 = Watch("WatchMessages after the last cursor", c.orders.WatchMessages,
                   O.WatchMessagesRequest(after=cursors[-1]))
        try:
            time.sleep(0.5)
            check_eq(w2.got(), [], "WatchMessages after the last cursor, before any new SMS")
            m3, _ = text("Your WhatsApp code is 300-003", "WhatsApp", "300003", "wa")
            w2.wait_count(1, ROUTE_LIMIT)
            time.sleep(0.3)
        finally:
            w2.cancel()
        check_eq([(e.message.id, e.message.rental_id) for e in w2.got()], [(m3.id, r.id)],
                 "WatchMessages resumed after the last cursor (the new message, once)")
        w3 = Watch("WatchMessages after the first cursor", c.orders.WatchMessages,
                   O.WatchMessagesRequest(after=cursors[0]))
        try:
            w3.wait_count(3, 5)
            time.sleep(0.3)
        finally:
            w3.cancel()
        check_eq(sorted(e.message.id for e in w3.got()), sorted([e.message.id for e in events[1:]] + [m3.id]),
                 "WatchMessages resumed after the first cursor (the rest, each once)")

        # GetRental's inbox: newest first.
        got = c.get(r.id)
        check_eq((status_name(got.status), got.sms_count, [x.id for x in got.messages]),
                 ("RENTAL_STATUS_ACTIVE", 3, [m3.id, m2.id, m1.id]),
                 "GetRental after 3 SMS (status, sms_count, messages newest first)")
        check_eq([(x.code, x.body) for x in got.messages], [(m3.code, m3.body), (m2.code, m2.body),
                                                            (m1.code, m1.body)],
                 "GetRental's messages (code, body)")

        # ListMessages: oldest first, in pages; a token on every page, to poll with.
        pages = []
        p1 = ok("ListMessages(page_size=2)", c.api.ListMessages,
                R.ListMessagesRequest(phone_number=r.phone_number, page_size=2))
        pages.append(p1)
        check_eq([x.id for x in p1.messages], [m1.id, m2.id], "ListMessages page 1 (oldest first)")
        check(p1.next_page_token, "ListMessages page 1 has no next_page_token")
        p2 = ok("ListMessages page 2", c.api.ListMessages,
                R.ListMessagesRequest(phone_number=r.phone_number, page_size=2, page_token=p1.next_page_token))
        check_eq([x.id for x in p2.messages], [m3.id], "ListMessages page 2")
        check(p2.next_page_token, "ListMessages page 2 (shorter than asked) has no next_page_token")
        p3 = ok("ListMessages after the last message", c.api.ListMessages,
                R.ListMessagesRequest(phone_number=r.phone_number, page_size=2, page_token=p2.next_page_token))
        check_eq(list(p3.messages), [], "ListMessages polled after the last message")
        check(p3.next_page_token, "ListMessages with no new message has no next_page_token")
        m4, _ = text("Your WhatsApp code is 400-004", "WhatsApp", "400004", "wa")
        p4 = ok("ListMessages polled again after a new SMS", c.api.ListMessages,
                R.ListMessagesRequest(phone_number=r.phone_number, page_size=2, page_token=p3.next_page_token))
        check_eq([x.id for x in p4.messages], [m4.id], "ListMessages polled after a new SMS (the new one only)")
        check(p4.next_page_token, "ListMessages page with the new message has no next_page_token")
        p5 = ok("ListMessages polled once more", c.api.ListMessages,
                R.ListMessagesRequest(phone_number=r.phone_number, page_size=2, page_token=p4.next_page_token))
        check_eq(list(p5.messages), [], "ListMessages polled once more (nothing new)")
        whole = ok("ListMessages (default page size) by the digits alone", c.api.ListMessages,
                   R.ListMessagesRequest(phone_number=r.phone_number.lstrip("+")))
        check_eq([x.id for x in whole.messages], [m1.id, m2.id, m3.id, m4.id],
                 "ListMessages by the number's digits alone (oldest first)")
        check_eq(list(whole.messages), [m for _, m in sent], "ListMessages vs the messages WatchRental pushed")
        check_error("ListMessages of a number the customer never rented", c.api.ListMessages,
                    R.ListMessagesRequest(phone_number=US_NUMBERS[-1]), NOT_FOUND, RESOURCE_NOT_FOUND)

        # The stream: every message once, in order, distinct cursors; resumable.
        time.sleep(0.2)
        events = w.got()
        check_eq([m.id for m in messages_of(events)], [m1.id, m2.id, m3.id, m4.id],
                 "messages on WatchRental (in order, each once)")
        cur = [e.cursor for e in events]
        check(all(cur) and len(set(cur)) == len(cur), f"WatchRental cursors not distinct and non-empty: {cur}")
        at = next(i for i, e in enumerate(events) if e.WhichOneof("event") == "message" and e.message.id == m2.id)
        w4 = Watch("WatchRental after the cursor of the 2nd message", c.api.WatchRental,
                   R.WatchRentalRequest(id=r.id, after=events[at].cursor))
        try:
            w4.wait("2 messages", lambda items: len(messages_of(items)) >= 2, 5)
            time.sleep(0.3)
        finally:
            w4.cancel()
        check_eq([e.cursor for e in w4.got()], cur[at + 1:], "WatchRental resumed after a cursor (the rest, once)")
        stream_refusal("WatchRental with a cursor it never issued", c.api.WatchRental,
                       R.WatchRentalRequest(id=r.id, after="not-a-cursor"), INVALID_ARGUMENT, INVALID_FIELD, "after")
        ctx.flow = (c, r, [m1, m2, m3, m4])
    finally:
        w.cancel()
        wm.cancel()
    c.check_balance(5000 - WEEK_US - WA_ACTIVATION_US, "after the rental and the completed activation", settle=0)


def t_other_service(ctx: Ctx):
    """A wa rental receives wa SMS only: another service's stays unrouted (OTHER_SERVICE); DeliverMessage rules."""
    c = ctx.customer("wa renter", credit=5000)
    r = c.rent(WA_MONTH_US, duration=ONE_MONTH, service="wa").rental
    wa_req, _ = ctx.sms(r.phone_number, "Your WhatsApp code is 246-810", "WhatsApp")
    ctx.wait_state(wa_req, ROUTED, ROUTE_LIMIT, "a WhatsApp SMS to the wa rental")
    unrouted = []
    for body, sender in (("Telegram code: 77777", "Telegram"),
                         ("Your verification code is 424242", "+15005550006")):
        req, _ = ctx.sms(r.phone_number, body, sender)
        m, _ = ctx.wait_state(req, UNROUTED, ROUTE_LIMIT, f"the SMS {body!r} from {sender} to the wa rental")
        check_eq((m.unrouted_reason, m.holder_id), (OTHER_SERVICE, ""),
                 f"the SMS {body!r} from {sender} to the wa rental (unrouted_reason, holder_id)")
        unrouted.append(m)
        ctx.unrouted_bodies.append(body)
    listed = ok("ListUnrouted (admin key)", ctx.dep.admin().inbound_admin.ListUnrouted,
                I.ListUnroutedRequest(page_size=100)).messages
    by_id = {m.id: m for m in listed}
    for m in unrouted:
        check(m.id in by_id and by_id[m.id].unrouted_reason == OTHER_SERVICE,
              f"ListUnrouted does not list {m.id} ({m.body!r}) as OTHER_SERVICE")
    got = c.get(r.id)
    check_eq([(x.body, x.code, x.service_code) for x in got.messages],
             [("Your WhatsApp code is 246-810", "246810", "wa")],
             "the wa rental's messages (body, code, service_code): only the wa SMS")

    # DeliverMessage itself, as inbound calls it.
    internal = ctx.internal
    check_error("DeliverMessage of a Telegram SMS to the wa rental", internal.DeliverMessage,
                ctx.direct_req(r.id, "Telegram code: 12345", "Telegram"), FAILED_PRECONDITION, OTHER_SERVICE)
    req = ctx.direct_req(r.id, "Your WhatsApp code is 135-791", "WhatsApp")
    m1 = ok("DeliverMessage with the service credential", internal.DeliverMessage, req)
    check_eq((m1.rental_id, m1.phone_number, m1.code, m1.service_code, m1.receive_time),
             (r.id, r.phone_number, "135791", "wa", req.receive_time),
             "DeliverMessage's message (rental_id, phone_number, code, service_code, receive_time)")
    m2 = ok("DeliverMessage again (same inbound_message_id)", internal.DeliverMessage, req)
    check_eq(m2, m1, "the redelivered message (the stored one)")
    other = c.rent(WEEK_US, what="a second rental of the wa renter").rental
    check_error("DeliverMessage of the same inbound_message_id to another rental", internal.DeliverMessage,
                ctx.direct_req(other.id, req.body, inbound_id=req.inbound_message_id), FAILED_PRECONDITION,
                IDEMPOTENCY_KEY_REUSED)
    check_error("DeliverMessage of an SMS received before the rental began", internal.DeliverMessage,
                ctx.direct_req(other.id, "Your WhatsApp code is 000-111", at=secs(other.create_time) - 60),
                FAILED_PRECONDITION, RENTAL_ENDED)
    for what, r_, field in (
            ("without body", R.DeliverMessageRequest(rental_id=r.id, inbound_message_id=rid(), sender="x",
                                                     receive_time=ts(time.time())), "body"),
            ("without receive_time", R.DeliverMessageRequest(rental_id=r.id, inbound_message_id=rid(), sender="x",
                                                             body="code 1234"), "receive_time"),
            ("without inbound_message_id", R.DeliverMessageRequest(rental_id=r.id, sender="x", body="code 1234",
                                                                   receive_time=ts(time.time())),
             "inbound_message_id"),
            ("with a sender of 65 characters", ctx.direct_req(r.id, "code 1234", sender="s" * 65), "sender")):
        check_error(f"DeliverMessage {what}", internal.DeliverMessage, r_, INVALID_ARGUMENT, INVALID_FIELD, field)
    got = c.get(r.id)
    check_eq([x.id for x in got.messages][:1], [m1.id], "the newest message of the wa rental")
    check_eq(got.sms_count, 2, "sms_count of the wa rental (one routed by inbound, one delivered directly, once)")
    check_eq(list(c.get(other.id).messages), [], "messages of the second rental after the refused deliveries")


def t_other_account(ctx: Ctx):
    """Another account's rental id is NOT_FOUND everywhere, streams included; nothing changes."""
    owner = ctx.customer("owner", credit=2000)
    r = owner.rent(WEEK_US).rental
    stranger = ctx.customer("stranger", credit=2000)
    s = stranger.api
    for what, fn, req in (
            ("GetRental", s.GetRental, R.GetRentalRequest(id=r.id)),
            ("RenewRental", s.RenewRental, R.RenewRentalRequest(id=r.id, request_id=rid())),
            ("CancelRental", s.CancelRental, R.CancelRentalRequest(id=r.id, request_id=rid())),
            ("SetAutoRenew", s.SetAutoRenew, R.SetAutoRenewRequest(id=r.id, auto_renew=False)),
            ("ListMessages of the owner's number", s.ListMessages, R.ListMessagesRequest(phone_number=r.phone_number))):
        check_error(f"{what} of another account's rental", fn, req, NOT_FOUND, RESOURCE_NOT_FOUND)
    stream_refusal("WatchRental of another account's rental", s.WatchRental, R.WatchRentalRequest(id=r.id),
                   NOT_FOUND, RESOURCE_NOT_FOUND)
    unknown = str(uuid.uuid4())
    check_error("GetRental of an id nobody has", s.GetRental, R.GetRentalRequest(id=unknown), NOT_FOUND,
                RESOURCE_NOT_FOUND)
    stream_refusal("WatchRental of an id nobody has", s.WatchRental, R.WatchRentalRequest(id=unknown), NOT_FOUND,
                   RESOURCE_NOT_FOUND)
    check_eq(stranger.listed(), [], "ListRentals of the stranger")
    got = owner.get(r.id)
    check_eq((status_name(got.status), got.auto_renew, got.expire_time, got.renewals),
             ("RENTAL_STATUS_ACTIVE", True, r.expire_time, 0),
             "the owner's rental after the stranger's attempts (status, auto_renew, expire_time, renewals)")
    owner.check_balance(2000 - WEEK_US, "of the owner", settle=0)
    stranger.check_balance(2000, "of the stranger", settle=0)


def t_renew(ctx: Ctx):
    """RenewRental adds the package to the current expiry at today's price; once per request_id; refusals."""
    c = ctx.customer("renewer", credit=5000)
    r = c.rent(THREE_US, duration=THREE_DAYS).rental
    balance = 5000 - THREE_US
    ctx.plan("US", THREE_DAYS, THREE_US_LATER)
    req = R.RenewRentalRequest(id=r.id, request_id=rid())
    x = ok("RenewRental (its package, after the operator raised its price)", c.api.RenewRental, req)
    expiry = package_end(micros(r.expire_time), THREE_DAYS)
    check_eq((x.charged, x.balance_after), (usd(THREE_US_LATER), usd(balance - THREE_US_LATER)),
             f"RenewRental (charged, balance_after): today's price {THREE_US_LATER}, not the {THREE_US} paid")
    y = x.rental
    check_eq((y.id, status_name(y.status), micros(y.expire_time), y.renewals, y.total_charged, y.price,
              y.renewal_duration, y.duration),
             (r.id, "RENTAL_STATUS_ACTIVE", expiry, 1, usd(THREE_US + THREE_US_LATER), usd(THREE_US), THREE_DAYS,
              THREE_DAYS),
             "the renewed rental (id, status, expire_time µs = old expiry + 3 days, renewals, total_charged, price, "
             "renewal_duration, duration)")
    balance -= THREE_US_LATER
    c.check_balance(balance, "after RenewRental", settle=0)
    again = ok("RenewRental retried with the same request_id", c.api.RenewRental, req)
    check_eq((again.charged, again.balance_after, again.rental.expire_time, again.rental.renewals),
             (x.charged, x.balance_after, y.expire_time, 1),
             "the retried RenewRental (charged, balance_after, expire_time, renewals)")
    check_error("RenewRental reusing the request_id with another package", c.api.RenewRental,
                R.RenewRentalRequest(id=r.id, duration=SEVEN_DAYS, request_id=req.request_id), FAILED_PRECONDITION,
                IDEMPOTENCY_KEY_REUSED)
    time.sleep(0.3)
    c.check_balance(balance, "after the retried and the reused RenewRental (charged once)", settle=0)

    # Another package: added to the current expiry, and auto-renew's from then on.
    z = ok("RenewRental(7 days)", c.api.RenewRental,
           R.RenewRentalRequest(id=r.id, duration=SEVEN_DAYS, request_id=rid()))
    expiry = package_end(expiry, SEVEN_DAYS)
    check_eq((z.charged, micros(z.rental.expire_time), z.rental.renewals, z.rental.renewal_duration,
              z.rental.total_charged),
             (usd(WEEK_US), expiry, 2, SEVEN_DAYS, usd(THREE_US + THREE_US_LATER + WEEK_US)),
             "RenewRental(7 days) (charged, expire_time µs, renewals, renewal_duration, total_charged)")
    balance -= WEEK_US
    c.check_balance(balance, "after RenewRental(7 days)", settle=0)
    check_error("RenewRental(1 year): no plan", c.api.RenewRental,
                R.RenewRentalRequest(id=r.id, duration=ONE_YEAR, request_id=rid()), FAILED_PRECONDITION,
                NOT_OFFERED)
    got = c.get(r.id)
    check_eq((micros(got.expire_time), got.renewals, got.total_charged),
             (expiry, 2, usd(THREE_US + THREE_US_LATER + WEEK_US)),
             "the rental after the refused renewal (expire_time, renewals, total_charged)")
    c.check_balance(balance, "after the refused renewal", settle=0)

    # Not enough money: refused, nothing charged; the retry answers the same even after a top-up.
    p = ctx.customer("short renewer", credit=DAY_US + 100)
    q = p.rent(DAY_US, duration=ONE_DAY).rental
    short = R.RenewRentalRequest(id=q.id, duration=SEVEN_DAYS, request_id=rid())
    check_error("RenewRental(7 days) with 100 in the wallet", p.api.RenewRental, short, FAILED_PRECONDITION,
                INSUFFICIENT_BALANCE)
    p.check_balance(100, "after the refused renewal", settle=0)
    p.credit(2000)
    check_error("RenewRental retried with the same request_id after a top-up", p.api.RenewRental, short,
                FAILED_PRECONDITION, INSUFFICIENT_BALANCE)
    got = p.get(q.id)
    check_eq((got.expire_time, got.renewals, got.total_charged), (q.expire_time, 0, usd(DAY_US)),
             "the rental after the refused renewals (expire_time, renewals, total_charged)")
    p.check_balance(2100, "after the retried refusal", settle=0)
    ok("RenewRental(7 days) with a new request_id", p.api.RenewRental,
       R.RenewRentalRequest(id=q.id, duration=SEVEN_DAYS, request_id=rid()))
    p.check_balance(2100 - WEEK_US, "after the renewal with the money there", settle=0)


def t_max_price(ctx: Ctx):
    """max_price on CreateRental and RenewRental: a set limit is a limit (zero or below is INVALID_ARGUMENT, never
    "no limit"); a price above it is refused with nothing charged; a price at it is paid."""
    c = ctx.customer("limited", credit=5000)

    def limited(limit, **kw) -> R.CreateRentalRequest:
        req = c.create_req(**kw)
        req.max_price.CopyFrom(limit)
        return req

    for what, limit in (("0", money(0)), ("USD 0", usd(0)), ("USD -1", usd(-1))):
        check_error(f"CreateRental(US, 7 days) with max_price {what}", c.api.CreateRental, limited(limit),
                    INVALID_ARGUMENT, INVALID_FIELD, "max_price")
    check_eq(c.listed(), [], "ListRentals after CreateRental with a max_price of nothing (nothing done)")
    c.check_balance(5000, "after CreateRental with a max_price of nothing", settle=0)

    dear = limited(usd(WEEK_US - 1), duration=SEVEN_DAYS)
    for what in ("", ", retried"):
        check_error(f"CreateRental(US, 7 days at {WEEK_US}) with max_price {WEEK_US - 1}{what}", c.api.CreateRental,
                    dear, FAILED_PRECONDITION, PRICE_ABOVE_MAX)
    c.check_balance(5000, "after CreateRental refused above max_price", settle=0)
    check_eq([(status_name(x.status), x.failure_reason, x.phone_number, x.total_charged.minor_units)
              for x in c.listed()], [("RENTAL_STATUS_FAILED", PRICE_ABOVE_MAX, "", 0)],
             "ListRentals after the purchase above max_price (status, failure_reason, phone_number, total_charged)")
    r = c.rent(WEEK_US, f"CreateRental(US, 7 days) with max_price {WEEK_US}, exactly the price",
               req=limited(usd(WEEK_US), duration=SEVEN_DAYS)).rental

    for what, limit in (("0", money(0)), ("USD -1", usd(-1))):
        check_error(f"RenewRental(7 days) with max_price {what}", c.api.RenewRental,
                    R.RenewRentalRequest(id=r.id, request_id=rid(), max_price=limit), INVALID_ARGUMENT,
                    INVALID_FIELD, "max_price")
    check_error(f"RenewRental(7 days at {WEEK_US}) with max_price {WEEK_US - 1}", c.api.RenewRental,
                R.RenewRentalRequest(id=r.id, request_id=rid(), max_price=usd(WEEK_US - 1)), FAILED_PRECONDITION,
                PRICE_ABOVE_MAX)
    got = c.get(r.id)
    check_eq((got.expire_time, got.renewals, got.total_charged), (r.expire_time, 0, usd(WEEK_US)),
             "the rental after the refused renewals (expire_time, renewals, total_charged)")
    c.check_balance(5000 - WEEK_US, "after RenewRental refused above max_price", settle=0)
    x = ok(f"RenewRental(7 days) with max_price {WEEK_US}, exactly today's price", c.api.RenewRental,
           R.RenewRentalRequest(id=r.id, request_id=rid(), max_price=usd(WEEK_US)))
    check_eq((x.charged, micros(x.rental.expire_time), x.rental.renewals),
             (usd(WEEK_US), package_end(micros(r.expire_time), SEVEN_DAYS), 1),
             "RenewRental within max_price (charged, expire_time µs, renewals)")
    c.check_balance(5000 - 2 * WEEK_US, "after RenewRental within max_price", settle=0)


def t_cancel(ctx: Ctx):
    """Cancel: in the window with no SMS everything comes back, once; after an SMS nothing; the number's next
    SMS reaches nobody; ListRentals(CANCELLED)."""
    c = ctx.customer("canceller", credit=5000)
    a = c.rent(WEEK_US).rental
    x = ok("CancelRental within the refund window, no SMS", c.api.CancelRental,
           R.CancelRentalRequest(id=a.id, request_id=rid()))
    check_eq((status_name(x.rental.status), x.refunded, x.balance_after, x.rental.refunded),
             ("RENTAL_STATUS_CANCELLED", usd(WEEK_US), usd(5000), usd(WEEK_US)),
             "CancelRental (status, refunded, balance_after, rental.refunded)")
    check(x.rental.HasField("end_time"), f"a CANCELLED rental has no end_time: {show(x.rental)}")
    c.check_balance(5000, "after the refunded cancel")
    again = ok("CancelRental again", c.api.CancelRental, R.CancelRentalRequest(id=a.id, request_id=rid()))
    check_eq((status_name(again.rental.status), again.refunded, again.rental.end_time),
             ("RENTAL_STATUS_CANCELLED", x.refunded, x.rental.end_time),
             "CancelRental of a CANCELLED rental (the same answer: status, refunded, end_time)")
    time.sleep(0.3)
    c.check_balance(5000, "after the second cancel (refunded once)", settle=0)

    # Renewed, then cancelled in the window: the purchase and the renewal come back.
    b = c.rent(WEEK_US).rental
    ok("RenewRental(7 days)", c.api.RenewRental, R.RenewRentalRequest(id=b.id, request_id=rid()))
    c.check_balance(5000 - 2 * WEEK_US, "after a purchase and a renewal", settle=0)
    y = ok("CancelRental of the renewed rental", c.api.CancelRental, R.CancelRentalRequest(id=b.id, request_id=rid()))
    check_eq((status_name(y.rental.status), y.refunded, y.balance_after),
             ("RENTAL_STATUS_CANCELLED", usd(2 * WEEK_US), usd(5000)),
             "CancelRental of a renewed rental in the window (status, refunded: everything charged, balance_after)")
    c.check_balance(5000, "after cancelling the renewed rental")

    # After an SMS: cancelled without a refund.
    d = c.rent(WEEK_US).rental
    req, _ = ctx.sms(d.phone_number, "Your WhatsApp code is 864-209", "WhatsApp")
    ctx.wait_state(req, ROUTED, ROUTE_LIMIT, "the SMS before the cancel")
    z = ok("CancelRental after an SMS", c.api.CancelRental, R.CancelRentalRequest(id=d.id, request_id=rid()))
    check_eq((status_name(z.rental.status), z.refunded.minor_units, z.HasField("balance_after"),
              z.rental.refunded.minor_units, z.rental.sms_count),
             ("RENTAL_STATUS_CANCELLED", 0, False, 0, 1),
             "CancelRental after an SMS (status, refunded, has balance_after, rental.refunded, sms_count)")
    time.sleep(0.3)
    c.check_balance(5000 - WEEK_US, "after the cancel without refund (the price kept)", settle=0)

    # The number's next SMS reaches nobody: kept by inbound as unrouted.
    late_body = "Your WhatsApp code is 975-310"
    late, _ = ctx.sms(d.phone_number, late_body, "WhatsApp")
    m, _ = ctx.wait_state(late, UNROUTED, ROUTE_LIMIT, "an SMS after the cancel")
    check(m.unrouted_reason in (NO_HOLDER, HOLDER_ENDED) and not m.holder_id,
          f"the SMS after the cancel: expected UNROUTED with NO_HOLDER (or HOLDER_ENDED) and no holder_id, "
          f"got {show(m)}")
    note(f"an SMS to the cancelled rental's number: UNROUTED {m.unrouted_reason}")
    ctx.unrouted_bodies.append(late_body)
    listed = ok("ListUnrouted (admin key)", ctx.dep.admin().inbound_admin.ListUnrouted,
                I.ListUnroutedRequest(page_size=100)).messages
    check_eq([(u.id, u.to, u.body) for u in listed if u.id == m.id], [(m.id, d.phone_number, late_body)],
             "the SMS after the cancel in ListUnrouted (id, to, body)")
    got = c.get(d.id)
    check_eq((status_name(got.status), got.sms_count, [x.body for x in got.messages]),
             ("RENTAL_STATUS_CANCELLED", 1, ["Your WhatsApp code is 864-209"]),
             "the cancelled rental after the late SMS (status, sms_count, messages)")
    msgs = ok("ListMessages of the cancelled rental's number", c.api.ListMessages,
              R.ListMessagesRequest(phone_number=d.phone_number)).messages
    check_eq([x.body for x in msgs], ["Your WhatsApp code is 864-209"],
             "ListMessages of the number rented before (the SMS of the rental only)")
    wm = Watch("orders' WatchMessages of the canceller", c.orders.WatchMessages, O.WatchMessagesRequest(), timeout=10)
    try:
        wm.wait_count(1, 5)
        time.sleep(0.5)
    finally:
        wm.cancel()
    check_eq([e.message.body for e in wm.got()], ["Your WhatsApp code is 864-209"],
             "orders' WatchMessages of the canceller (no late SMS)")
    check_error("DeliverMessage to the cancelled rental, received after the cancel", ctx.internal.DeliverMessage,
                ctx.direct_req(d.id, "Your WhatsApp code is 101-202"), FAILED_PRECONDITION, RENTAL_ENDED)

    # What can no longer be done.
    check_error("RenewRental of a CANCELLED rental", c.api.RenewRental,
                R.RenewRentalRequest(id=d.id, request_id=rid()), FAILED_PRECONDITION, NUMBER_EXPIRED)
    check_error("SetAutoRenew of a CANCELLED rental", c.api.SetAutoRenew,
                R.SetAutoRenewRequest(id=d.id, auto_renew=False), FAILED_PRECONDITION, RENTAL_ENDED)
    c.check_balance(5000 - WEEK_US, "after the refused calls on cancelled rentals", settle=0)

    # Lists.
    check_eq([x.id for x in c.listed(R.RENTAL_FILTER_CANCELLED)], [d.id, b.id, a.id],
             "ListRentals(CANCELLED) (newest first)")
    check_eq([(status_name(x.status), x.refunded) for x in c.listed(R.RENTAL_FILTER_CANCELLED)],
             [("RENTAL_STATUS_CANCELLED", usd(0)), ("RENTAL_STATUS_CANCELLED", usd(2 * WEEK_US)),
              ("RENTAL_STATUS_CANCELLED", usd(WEEK_US))], "ListRentals(CANCELLED) (status, refunded)")
    check_eq(c.listed(R.RENTAL_FILTER_ACTIVE), [], "ListRentals(ACTIVE) after the cancels")
    check_eq([x.id for x in c.listed(page_size=2)], [d.id, b.id, a.id], "ListRentals(ALL) in pages of 2")
    check_eq(c.listed(R.RENTAL_FILTER_EXPIRED), [], "ListRentals(EXPIRED) of the canceller")

    # The stream of a cancelled rental: its history, then the end.
    w = Watch("WatchRental of the cancelled rental", c.api.WatchRental, R.WatchRentalRequest(id=d.id), timeout=15)
    end = w.wait_end(5)
    w.cancel()
    check(end is not None and end[0] == "OK", f"WatchRental of a CANCELLED rental: expected its history then the "
                                              f"end (OK), got end {end} after {show(w.got())}")
    check_eq(([e.WhichOneof("event") for e in w.got()], statuses_of(w.got())[-1:],
              [m_.body for m_ in messages_of(w.got())]),
             (["changed", "message", "changed"], ["RENTAL_STATUS_CANCELLED"], ["Your WhatsApp code is 864-209"]),
             "WatchRental of the cancelled rental (events, last status, messages)")


def t_auto_renew_settings(ctx: Ctx):
    """auto_renew defaults to on; SetAutoRenew toggles it (on the stream too); a fresh one-day rental is not
    due at once although NUMHUB_RENTALS_RENEW_BEFORE is 2 days (the lead is capped at half the package)."""
    c = ctx.customer("auto-renew settings", credit=5000)
    r = c.rent(WEEK_US).rental  # rent() checks auto_renew is on by default
    w = Watch("WatchRental of the rental whose auto-renew is toggled", c.api.WatchRental,
              R.WatchRentalRequest(id=r.id))
    try:
        w.wait("the ACTIVE change", lambda items: len(changes_of(items)) >= 1, 5)
        for i, on in enumerate((False, True)):
            x = ok(f"SetAutoRenew({on})", c.api.SetAutoRenew, R.SetAutoRenewRequest(id=r.id, auto_renew=on))
            check_eq((x.id, x.auto_renew, status_name(x.status), x.expire_time),
                     (r.id, on, "RENTAL_STATUS_ACTIVE", r.expire_time),
                     f"SetAutoRenew({on})'s answer (id, auto_renew, status, expire_time)")
            check_eq(c.get(r.id).auto_renew, on, f"GetRental's auto_renew after SetAutoRenew({on})")
            w.wait(f"a change with auto_renew {on}", lambda items, n=i + 2: len(changes_of(items)) >= n, 5)
            check_eq(changes_of(w.got())[i + 1].auto_renew, on, f"the stream's change after SetAutoRenew({on})")
        same = ok("SetAutoRenew(True) again", c.api.SetAutoRenew, R.SetAutoRenewRequest(id=r.id, auto_renew=True))
        check_eq(same.auto_renew, True, "SetAutoRenew(True) of a rental with auto-renew on")
    finally:
        w.cancel()
    off = c.rent(WEEK_US, what="CreateRental(US, 7 days, auto_renew=false)", auto_renew=False).rental
    check_eq(c.get(off.id).auto_renew, False, "GetRental's auto_renew of a rental bought with auto_renew=false")

    # The cap: RENEW_BEFORE=2days, but a fresh one-day rental is due 12 hours before its expiry at the soonest.
    d = c.rent(DAY_US, duration=ONE_DAY).rental
    balance = 5000 - 2 * WEEK_US - DAY_US
    time.sleep(WORKER_INTERVAL * 15)
    got = c.get(d.id)
    check_eq((got.renewals, got.expire_time, got.total_charged, got.auto_renew_failure),
             (0, d.expire_time, usd(DAY_US), ""),
             f"a fresh one-day rental {WORKER_INTERVAL * 15:.0f}s later with NUMHUB_RENTALS_RENEW_BEFORE=2days "
             f"(renewals, expire_time, total_charged, auto_renew_failure): not due before half its package")
    c.check_balance(balance, "a few worker passes after the one-day rental (nothing renewed)", settle=0)
    note("no setting makes a fresh rental due for auto-renew (lead = min(RENEW_BEFORE, package/2)); "
         "auto_renew_by_worker moves a stored expiry instead")


def t_auto_renew_worker(ctx: Ctx):
    """Auto-renew by the worker, on a stored expiry moved 2 minutes ahead: today's price, the package added to
    that expiry, once; a short wallet is recorded, then retried after NUMHUB_RENTALS_RENEW_RETRY, or at once
    after SetAutoRenew(true), which clears the failure."""
    c = ctx.customer("auto-renewed", credit=5000)
    r = c.rent(DAY_US, duration=ONE_DAY).rental
    ctx.plan("US", ONE_DAY, DAY_US_LATER)
    try:
        w = Watch("WatchRental of the rental auto-renew renews", c.api.WatchRental, R.WatchRentalRequest(id=r.id))
        try:
            w.wait("the ACTIVE change", lambda items: len(changes_of(items)) >= 1, 5)
            moved = ctx.move_expiry(r.id, time.time() + 120)
            x, took = c.wait_rental(r.id, "the auto-renew of the rental 2 minutes from its (moved) expiry",
                                    lambda x: x.renewals >= 1)
            note(f"auto-renewed {took:.2f}s after its expiry was moved 2 minutes ahead (worker interval "
                 f"{WORKER_INTERVAL}s)")
            check_eq((status_name(x.status), micros(x.expire_time), x.renewals, x.total_charged, x.price,
                      x.auto_renew_failure, x.HasField("auto_renew_failure_time")),
                     ("RENTAL_STATUS_ACTIVE", package_end(moved, ONE_DAY), 1, usd(DAY_US + DAY_US_LATER),
                      usd(DAY_US), "", False),
                     "the auto-renewed rental (status, expire_time µs = moved expiry + 1 day, renewals, "
                     "total_charged at today's price, price, auto_renew_failure, has its time)")
            c.check_balance(5000 - DAY_US - DAY_US_LATER, f"after the auto-renew (today's price {DAY_US_LATER})")
            w.wait("the change with the new expiry",
                   lambda items: any(ch.renewals == 1 for ch in changes_of(items)), ROUTE_LIMIT)
            ch = [ch for ch in changes_of(w.got()) if ch.renewals == 1][0]
            check_eq((status_name(ch.status), ch.expire_time), ("RENTAL_STATUS_ACTIVE", x.expire_time),
                     "the stream's change after the auto-renew (status, expire_time)")
        finally:
            w.cancel()
        time.sleep(WORKER_INTERVAL * 10)
        got = c.get(r.id)
        check_eq((got.renewals, got.expire_time), (1, x.expire_time), "the rental a few worker passes later "
                                                                      "(renewed once: renewals, expire_time)")
        c.check_balance(5000 - DAY_US - DAY_US_LATER, "a few worker passes later (charged once)", settle=0)

        # A short wallet: recorded on the rental, nothing charged. Two such
        # rentals: one is retried after NUMHUB_RENTALS_RENEW_RETRY once the
        # money is there; the other's failure is cleared by SetAutoRenew(true),
        # "so the next attempt comes at once if it is due".
        short = []
        for tag in ("auto-renew retried", "auto-renew re-enabled"):
            p = ctx.customer(tag, credit=DAY_US_LATER)
            q = p.rent(DAY_US_LATER, duration=ONE_DAY).rental
            short.append((p, q, ctx.move_expiry(q.id, time.time() + 120)))
        for p, q, moved in short:
            y, _ = p.wait_rental(q.id, f"{p.tag}: the failed auto-renew recorded on the rental",
                                 lambda x: x.auto_renew_failure != "")
            check_eq((y.auto_renew_failure, y.HasField("auto_renew_failure_time"), y.renewals, micros(y.expire_time),
                      status_name(y.status), y.auto_renew),
                     (INSUFFICIENT_BALANCE, True, 0, moved, "RENTAL_STATUS_ACTIVE", True),
                     f"{p.tag}: the rental whose auto-renew found an empty wallet (auto_renew_failure, has its time, "
                     f"renewals, expire_time, status, auto_renew)")
            failed_at = secs(y.auto_renew_failure_time)
            check(abs(failed_at - time.time()) < 10, f"auto_renew_failure_time {failed_at:.3f} is not about now")
            p.check_balance(0, "after the refused auto-renew", settle=0)
        (p1, q1, moved1), (p2, q2, moved2) = short
        p1.credit(1000)
        t1 = time.monotonic()
        p2.credit(1000)
        s = ok("SetAutoRenew(true) after the failure", p2.api.SetAutoRenew,
               R.SetAutoRenewRequest(id=q2.id, auto_renew=True))
        t2 = time.monotonic()
        check_eq((s.auto_renew, s.auto_renew_failure, s.HasField("auto_renew_failure_time")), (True, "", False),
                 "SetAutoRenew(true) clears the failure (auto_renew, auto_renew_failure, has its time)")
        took = {}
        limit = RECOVERY_AFTER + RENEW_RETRY + WORKER_LIMIT
        deadline = time.monotonic() + limit
        while len(took) < 2 and time.monotonic() < deadline:
            for p, q, t0 in ((p1, q1, t1), (p2, q2, t2)):
                if p.tag not in took and p.get(q.id).renewals >= 1:
                    took[p.tag] = time.monotonic() - t0
            time.sleep(0.05)
        check_eq(sorted(took), sorted([p1.tag, p2.tag]), f"rentals auto-renewed within {limit:.0f}s of the top-up")
        for p, q, moved in short:
            v = p.get(q.id)
            check_eq((micros(v.expire_time), v.renewals, v.auto_renew_failure, v.total_charged),
                     (package_end(moved, ONE_DAY), 1, "", usd(2 * DAY_US_LATER)),
                     f"{p.tag}: the rental renewed after the top-up (expire_time µs, renewals, auto_renew_failure, "
                     f"total_charged)")
            p.check_balance(1000 - DAY_US_LATER, "after the auto-renew that followed the top-up")
        note(f"after the top-up: renewed by the retry {took[p1.tag]:.2f}s later (NUMHUB_RENTALS_RENEW_RETRY "
             f"{RENEW_RETRY:.0f}s), and {took[p2.tag]:.2f}s after SetAutoRenew(true)")
        late = []
        if took[p1.tag] > RENEW_RETRY + WORKER_LIMIT:
            late.append(f"the retry of a refused auto-renew came {took[p1.tag]:.1f}s after the top-up, not within "
                        f"NUMHUB_RENTALS_RENEW_RETRY ({RENEW_RETRY:.0f}s) + {WORKER_LIMIT:.0f}s")
        if took[p2.tag] > WORKER_LIMIT:
            late.append(f"SetAutoRenew(true) clears the failure \"so the next attempt comes at once if it is due\" "
                        f"(rentals.proto), but the due rental was renewed only {took[p2.tag]:.1f}s later (worker "
                        f"interval {WORKER_INTERVAL}s)")
        check(not late, "; ".join(late) + f" (NUMHUB_RENTALS_RECOVERY_AFTER is {RECOVERY_AFTER:.0f}s)")
    finally:
        ctx.plan("US", ONE_DAY, DAY_US)


def t_expiry(ctx: Ctx):
    """Without auto-renew, a rental whose (moved) expiry passes is EXPIRED by the worker: its stream ends, its
    number takes no more SMS, nothing is refunded."""
    c = ctx.customer("expiring", credit=1000)
    r = c.rent(WEEK_US, auto_renew=False).rental
    w = Watch("WatchRental of the rental that will expire", c.api.WatchRental, R.WatchRentalRequest(id=r.id),
              timeout=60)
    try:
        w.wait("the ACTIVE change", lambda items: len(changes_of(items)) >= 1, 5)
        moved = ctx.move_expiry(r.id, time.time() + 1.5)
        end = w.wait_end(1.5 + WORKER_LIMIT)
        check(end is not None, f"WatchRental did not end within {1.5 + WORKER_LIMIT:.1f}s of the (moved) expiry; "
                               f"received {show(w.got())}")
        check_eq(end[0], "OK", f"how the stream of the expired rental ended ({end[1]!r})")
        check_eq(statuses_of(w.got())[-1:], ["RENTAL_STATUS_EXPIRED"], "the stream's last status")
    finally:
        w.cancel()
    x = c.get(r.id)
    check_eq((status_name(x.status), micros(x.expire_time), x.refunded.minor_units, x.renewals),
             ("RENTAL_STATUS_EXPIRED", moved, 0, 0), "the expired rental (status, expire_time µs, refunded, renewals)")
    check(x.HasField("end_time") and micros(x.end_time) == moved,
          f"end_time of the expired rental: expected its expire_time {show(x.expire_time)}, got {show(x.end_time)}")
    check_eq([y.id for y in c.listed(R.RENTAL_FILTER_EXPIRED)], [r.id], "ListRentals(EXPIRED)")
    check_eq(c.listed(R.RENTAL_FILTER_ACTIVE), [], "ListRentals(ACTIVE) after the expiry")
    for what, fn, req, reason in (
            ("RenewRental of an EXPIRED rental", c.api.RenewRental, R.RenewRentalRequest(id=r.id, request_id=rid()),
             NUMBER_EXPIRED),
            ("CancelRental of an EXPIRED rental", c.api.CancelRental,
             R.CancelRentalRequest(id=r.id, request_id=rid()), RENTAL_ENDED),
            ("SetAutoRenew of an EXPIRED rental", c.api.SetAutoRenew,
             R.SetAutoRenewRequest(id=r.id, auto_renew=True), RENTAL_ENDED)):
        check_error(what, fn, req, FAILED_PRECONDITION, reason)
    body = "Your WhatsApp code is 515-151"
    req, _ = ctx.sms(r.phone_number, body, "WhatsApp")
    m, _ = ctx.wait_state(req, UNROUTED, ROUTE_LIMIT, "an SMS after the expiry")
    check(m.unrouted_reason in (NO_HOLDER, HOLDER_ENDED) and not m.holder_id,
          f"the SMS after the expiry: expected UNROUTED (NO_HOLDER or HOLDER_ENDED), got {show(m)}")
    ctx.unrouted_bodies.append(body)
    check_eq(list(c.get(r.id).messages), [], "messages of the expired rental")
    c.check_balance(1000 - WEEK_US, "after the expiry (nothing refunded)", settle=0)


def t_refund_window_closed(ctx: Ctx):
    """A cancel after NUMHUB_RENTALS_REFUND_WINDOW (20s), no SMS: CANCELLED without a refund."""
    check(ctx.window is not None, "refund_window_arm did not run")
    c, r = ctx.window
    left = secs(r.create_time) + REFUND_WINDOW + 1.0 - time.time()
    if left > 0:
        print(f"     (waiting {left:.1f}s for the refund window to close)", flush=True)
        time.sleep(left)
    x = ok("CancelRental after the refund window", c.api.CancelRental, R.CancelRentalRequest(id=r.id, request_id=rid()))
    check_eq((status_name(x.rental.status), x.refunded.minor_units, x.HasField("balance_after"),
              x.rental.refunded.minor_units),
             ("RENTAL_STATUS_CANCELLED", 0, False, 0),
             f"CancelRental {time.time() - secs(r.create_time):.0f}s after the purchase, no SMS (status, refunded, "
             f"has balance_after, rental.refunded)")
    time.sleep(0.3)
    c.check_balance(1000 - WEEK_US, "after the cancel outside the window (the price kept)", settle=0)


def t_unrouted_never_shown(ctx: Ctx):
    """No SMS kept as unrouted shows in any rental of any customer."""
    check(ctx.unrouted_bodies, "no unrouted SMS to look for (the checks that make them did not run)")
    leaks = []
    for cust, rental_id in ctx.kept:
        x = cust.get(rental_id, f"{cust.tag}: GetRental({rental_id}), looking for unrouted SMS")
        leaks += [f"{cust.tag}'s rental {rental_id}: {m.body!r}" for m in x.messages if m.body in ctx.unrouted_bodies]
    check(not leaks, f"unrouted SMS shown to customers: {leaks}")
    note(f"{len(ctx.unrouted_bodies)} unrouted SMS; none in the {len(ctx.kept)} rentals")


def t_sigterm(ctx: Ctx):
    """SIGTERM with WatchRental and orders' WatchMessages open: both end UNAVAILABLE at once; exit 0 in the
    grace; while rentals is down WatchMessages is UNAVAILABLE and inbound holds the SMS."""
    check(ctx.flow is not None, "sms_to_watch_inbox_and_messages did not run")
    c, r, msgs = ctx.flow
    ctx.snapshot = [(cust, cust.get(rid_, f"{cust.tag}: GetRental({rid_}) for the snapshot"))
                    for cust, rid_ in ctx.kept]
    srv = ctx.dep.rentals
    w = Watch("WatchRental open across SIGTERM", c.api.WatchRental, R.WatchRentalRequest(id=r.id), timeout=60)
    wm = Watch("orders' WatchMessages open across rentals' SIGTERM", c.orders.WatchMessages,
               O.WatchMessagesRequest(), timeout=60)
    try:
        w.wait("the rental's messages", lambda items: len(messages_of(items)) >= len(msgs), 5)
        wm.wait("the messages so far", lambda items: len(items) >= len(msgs) + 1, 5)
        time.sleep(0.3)
        before = len(w.got())
        t0 = time.monotonic()
        ctx.stopped.add(srv)
        srv.proc.send_signal(15)
        end = w.wait_end(GRACE + 2)
        wend = wm.wait_end(GRACE + 2)
        try:
            rc = srv.proc.wait(timeout=GRACE + 1.0)
        except subprocess.TimeoutExpired:
            rc = None
        exited = time.monotonic() - t0
        if rc is None:
            srv.kill()
        srv.close_channel()
        check(rc is not None, f"{srv.name} still running {GRACE + 1.0:.1f}s after SIGTERM with streams open (grace "
                              f"{GRACE}s; killed it); log:\n{tail(srv.log_path, 25)}")
        check_eq(rc, 0, f"{srv.name}: exit code after SIGTERM ({exited:.2f}s)")
        check(end is not None, "the WatchRental stream did not end although rentals exited")
        ended = w.end[0] - t0
        check_eq(end[0], "UNAVAILABLE", f"how WatchRental ended on SIGTERM ({end[1]!r})")
        check(ended <= STREAM_END_LIMIT, f"WatchRental ended {ended:.2f}s after SIGTERM (expected at once, within "
                                         f"{STREAM_END_LIMIT}s; grace {GRACE}s)")
        check_eq(len(w.got()), before, "events WatchRental received after SIGTERM")
        check(wend is not None, "orders' WatchMessages did not end although rentals exited")
        check_eq(wend[0], "UNAVAILABLE", f"how orders' WatchMessages ended when rentals stopped ({wend[1]!r})")
        note(f"after SIGTERM: WatchRental ended {ended:.2f}s later (UNAVAILABLE {end[1]!r}), orders' WatchMessages "
             f"{wm.end[0] - t0:.2f}s later, rentals exited 0 {exited:.2f}s later (grace {GRACE}s)")
    finally:
        w.cancel()
        wm.cancel()
    stream_refusal("orders' WatchMessages while rentals is down", c.orders.WatchMessages, O.WatchMessagesRequest(),
                   UNAVAILABLE, "TEMPORARILY_UNAVAILABLE")
    req, im = ctx.sms(r.phone_number, "Your WhatsApp code is 909-090", "WhatsApp")
    time.sleep(1.5)
    held = ctx.stored(req, "Deliver again while rentals is down")
    check_eq((held.id, state_name(held.state), held.holder_id), (im.id, "ROUTE_STATE_PENDING", ""),
             "the SMS to a rented number 1.5s later with rentals down (id, state, holder_id)")
    ctx.held = (req, im)


def t_restart(ctx: Ctx):
    """rentals restarted on the same database: every rental as before, the held SMS routed once, the stream's
    history and cursors unchanged."""
    check(ctx.snapshot is not None and ctx.held is not None, "sigterm_with_streams did not run")
    srv = ctx.dep.rentals
    if not srv.running():
        srv.start()
    ctx.stopped.discard(srv)
    c, r, msgs = ctx.flow
    req, im = ctx.held
    routed, took = ctx.wait_state(req, ROUTED, RECOVERY_LIMIT, "the SMS held while rentals was down")
    check_eq((routed.id, routed.holder_id), (im.id, r.id), "the held SMS once routed (id, holder_id)")
    note(f"the held SMS was routed {took:.2f}s after rentals served again")
    time.sleep(ROUTE_INTERVAL * 5)
    for cust, before in ctx.snapshot:
        after = cust.get(before.id, f"{cust.tag}: GetRental({before.id}) after the restart")
        if before.id == r.id:
            check_eq(([x.body for x in after.messages], after.sms_count),
                     ([req.body] + [x.body for x in before.messages], before.sms_count + 1),
                     "the texted rental after the restart (messages newest first, sms_count): the held SMS once")
            a2, b2 = R.Rental(), R.Rental()
            a2.CopyFrom(after)
            b2.CopyFrom(before)
            for x in (a2, b2):
                x.ClearField("messages")
                x.ClearField("sms_count")
            check_eq(a2, b2, "the texted rental after the restart, but for its messages")
            continue
        check_eq(after, before, f"{cust.tag}'s rental {before.id} after the restart")
    w = Watch("WatchRental from the start after the restart", c.api.WatchRental, R.WatchRentalRequest(id=r.id))
    try:
        w.wait("every message", lambda items: len(messages_of(items)) >= len(msgs) + 1, 5)
        time.sleep(0.3)
    finally:
        w.cancel()
    check_eq([m.id for m in messages_of(w.got())][:len(msgs)], [m.id for m in msgs],
             "the messages WatchRental replays after the restart (as before)")
    check_eq([m.body for m in messages_of(w.got())][len(msgs):], [req.body],
             "the held SMS on WatchRental after the restart (once)")
    wm = Watch("orders' WatchMessages after rentals' restart", c.orders.WatchMessages, O.WatchMessagesRequest())
    try:
        wm.wait_count(len(msgs) + 2, 5)
        time.sleep(0.3)
    finally:
        wm.cancel()
    check_eq([e.message.id for e in wm.got() if e.message.rental_id][:len(msgs)], [m.id for m in msgs],
             "orders' WatchMessages after rentals' restart (the rental's messages, as before)")
    # It still rents.
    n = ctx.customer("after restart", credit=2000)
    x = n.rent(WEEK_US).rental
    y = ok("CancelRental after the restart", n.api.CancelRental, R.CancelRentalRequest(id=x.id, request_id=rid()))
    check_eq(y.refunded, usd(WEEK_US), "refunded by a cancel after the restart")
    n.check_balance(2000, "after a rental cancelled after the restart")


def t_logs_clean(ctx: Ctx):
    note(ctx.dep.check_logs_clean())


RPC_SUITE = [
    ("health_reflection_access", t_health_and_access),
    ("refund_window_arm", t_refund_window_arm),
    ("create_charges_once", t_create),
    ("create_refusals", t_refusals),
    ("sms_to_watch_inbox_and_messages", t_sms_flow),
    ("service_rental_other_service", t_other_service),
    ("other_account_not_found", t_other_account),
    ("renew_current_price", t_renew),
    ("max_price_limits", t_max_price),
    ("cancel_refund_rules", t_cancel),
    ("auto_renew_settings", t_auto_renew_settings),
    ("auto_renew_by_worker", t_auto_renew_worker),
    ("expiry_by_worker", t_expiry),
    ("refund_window_closed", t_refund_window_closed),
    ("unrouted_never_shown", t_unrouted_never_shown),
    ("sigterm_with_streams", t_sigterm),
    ("restart_keeps_rentals", t_restart),
    ("no_secrets_in_logs", t_logs_clean),
]
# Checks that need another check to have run first.
NEEDS = {"refund_window_closed": "refund_window_arm", "sigterm_with_streams": "sms_to_watch_inbox_and_messages",
         "restart_keeps_rentals": "sigterm_with_streams"}


# ---------------------------------------------------------------------------
# scenarios
# ---------------------------------------------------------------------------


def suite_names(scenario: str) -> list:
    return [f"{scenario}/{n}" for n, _ in RPC_SUITE]


def run_server_scenario(runner: Runner, scenario: str, dep: Deployment, rentals_db: str):
    ctx = Ctx(scenario, dep, rentals_db)
    names_ = [f"{scenario}/start"] + suite_names(scenario)
    if not any(runner.wanted(n) for n in names_):
        return
    before = len(runner.failed)

    def start():
        dep.start()
        ctx.setup()

    # -k on a check that needs another runs that one too.
    forced = set()
    for name, _ in RPC_SUITE:
        if runner.wanted(f"{scenario}/{name}"):
            need = NEEDS.get(name)
            while need:
                forced.add(need)
                need = NEEDS.get(need)

    try:
        if not runner.run(f"{scenario}/start", start, force=True):
            runner.not_run(names_[1:], "the servers did not start")
            return
        for i, (name, fn) in enumerate(RPC_SUITE):
            runner.run(f"{scenario}/{name}", fn, ctx, force=name in forced)
            # sigterm_with_streams stops rentals on purpose; restart_keeps_rentals starts it again.
            dead = [p for p in dep.processes() if not p.running() and p not in ctx.stopped]
            if dead:
                gone = [f"{p.name} (exit code {p.proc.returncode})" for p in dead]
                runner.fail(f"{scenario}/servers_alive", f"{', '.join(gone)} died during {name}")
                runner.not_run([f"{scenario}/{n}" for n, _ in RPC_SUITE[i + 1:]], "a server died")
                return
    finally:
        dep.kill()
        if len(runner.failed) > before:
            print(f"---- {scenario}: server logs in {dep.workdir}", flush=True)
            dump_logs(dep)


def scenario_postgres(runner: Runner):
    scenario = "postgres"
    names_ = [f"{scenario}/reachable", f"{scenario}/migrate"] + suite_names(scenario)
    if not any(runner.wanted(n) for n in names_):
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
        dbs = FreshDatabases("accounts", "wallet", "catalog", "rentals", "orders", "inbound").__enter__()
    except Failure as e:
        runner.fail(f"{scenario}/create_database", str(e))
        return
    try:
        wd = runner.workdir("rentals-postgres")
        url = dbs.url("rentals")

        def migrate():
            for attempt in (1, 2):
                r = run_binary(ARGS.rentals_binary, ["migrate"], wd, {"NUMHUB_DATABASE_URL": url})
                check_eq(r.returncode, 0, f"exit code of `numhub-rentals migrate` (run {attempt}) against {url} "
                                          f"(stderr: {r.stderr.decode(errors='replace')[-2000:]!r})")
            p = psql(url, "SELECT count(*) FROM information_schema.tables "
                          "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')")
            check(p.returncode == 0 and int(p.stdout.strip() or 0) > 0,
                  f"`migrate` left no tables in {url}: {p.stdout.strip()} {p.stderr.strip()}")

        if not runner.run(f"{scenario}/migrate", migrate):
            runner.not_run(suite_names(scenario), "migrate failed")
            return
        dep = Deployment("rentals-pg", wd, catalog=True, orders=True, inbound=True, accounts_db=dbs.url("accounts"),
                         wallet_db=dbs.url("wallet"), catalog_db=dbs.url("catalog"), rentals_db=url,
                         orders_db=dbs.url("orders"), inbound_db=dbs.url("inbound"), rentals_env=RENTALS_ENV,
                         orders_env=ORDERS_ENV, inbound_env=INBOUND_ENV)
        run_server_scenario(runner, scenario, dep, url)
    finally:
        dbs.__exit__(None, None, None)


def scenario_sqlite(runner: Runner):
    scenario = "sqlite"
    if not any(runner.wanted(n) for n in [f"{scenario}/start"] + suite_names(scenario)):
        return
    wd = runner.workdir("rentals-sqlite")
    dep = Deployment("rentals-sqlite", wd, catalog=True, orders=True, inbound=True, rentals_env=RENTALS_ENV,
                     orders_env=ORDERS_ENV, inbound_env=INBOUND_ENV)
    run_server_scenario(runner, scenario, dep, os.path.join(wd, "data", "rentals.db"))


def main() -> int:
    runner = Runner("test_rentals.py")
    binaries = (ARGS.accounts_binary, ARGS.wallet_binary, ARGS.catalog_binary, ARGS.rentals_binary,
                ARGS.orders_binary, ARGS.inbound_binary)
    if runner.binaries_ok(binaries):
        print(f"numhub rentals e2e: binaries {' '.join(binaries)}", flush=True)
        scenario_postgres(runner)
        scenario_sqlite(runner)
    return runner.finish()


if __name__ == "__main__":
    sys.exit(main())
