#!/usr/bin/env python3
"""End-to-end tests of numhub orders (activations), judged as an outside client.

The client is generated from the protos in proto/ with Python's gRPC toolchain
(see run.sh); nothing here links against the Rust code. Every check talks to
real processes over gRPC: `numhub-accounts` (API keys, rate limits),
`numhub-wallet` (the money), `numhub-catalog` (numbers and prices) and
`numhub-orders`, which buys numbers from the catalog and charges the wallet,
all sharing a service credential; and `numhub-rentals`, whose rental messages
orders' WatchMessages merges in (none here: these customers rent nothing).

Orders runs with:
  * NUMHUB_ORDERS_SERVICE_LIFETIMES=tg=1m and NUMHUB_ORDERS_WORKER_INTERVAL=200ms,
    so that an activation for "tg" expires while the suite runs. The tg
    activations are bought by the first check ("expiry_arm") and judged by
    "expiry" after every other RPC check, so the one-minute wait overlaps
    them;
  * NUMHUB_ORDERS_MAX_OPEN=3, to reach the open-activation limit cheaply;
  * NUMHUB_SHUTDOWN_GRACE=4s (the documented default), made explicit.

The operator (admin key) stocks US with numbers, prices wa and tg in US and
wa in DE (where there is no number), and tops up each customer's wallet.
Every check has customers of its own (accounts with roomy quotas, except the
one that checks the money rate limit), so balances can be judged exactly.
Customers use OrdersService with their read + write API key; SMS come in
through OrdersInternalService.DeliverMessage with the service credential, as
the inbound service would send them.

Scenarios:
  * postgres - fresh databases numhub_e2e_<random>_{accounts,wallet,catalog,
               orders,rentals}, `numhub-orders migrate` (twice), then the suite.
               Skipped loudly when PostgreSQL is unreachable, unless CI=true,
               where it is mandatory.
  * sqlite   - the same suite on the default SQLite stores under ./data.

Usage: test_orders.py [--accounts-binary PATH] [--wallet-binary PATH]
                      [--catalog-binary PATH] [--orders-binary PATH]
                      [--rentals-binary PATH]
                      [--gen target/e2e-gen] [-k SUBSTRING] [--keep]
The last line printed is always "N passed, M failed"; the exit code is 0 only
when nothing failed.
"""

from __future__ import annotations

import base64
import os
import re
import socket
import subprocess
import sys
import time
import uuid

from e2e_common import (  # noqa: E402
    Watch, secs, ts, wait_for,
    ARGS, UNAVAILABLE, BoundStub, Proc, bearer, free_ports, orders_pb2_grpc, FAILED_PRECONDITION, INVALID_ARGUMENT, MISSING_CREDENTIAL, NOT_FOUND, ORDERS_SERVICES, PERMISSION_DENIED,
    RATE_LIMITED, READ, RESOURCE_EXHAUSTED, SERVICE_CREDENTIAL_REQUIRED, SHUTDOWN_LIMIT, UNAUTHENTICATED, WRITE, C,
    A, Deployment, Failure, FreshDatabases, O, R, Runner, W, check, check_details, check_error, check_eq,
    check_health, check_reflection, check_reflection_grpcurl, check_uuid7, deviation, dump_logs, money, note, ok,
    outcome,
    postgres_unreachable, psql, rid, run_binary, show, tail, check_workers_stopped,
)

ORDERS = "numhub.orders.v1.OrdersService"

# Quotas of the test accounts: they buy and read a lot.
ROOMY = (100_000, 100_000)

# Orders' configuration in these tests.
EXPIRING_SERVICE = "tg"
EXPIRING_LIFETIME = 60.0
DEFAULT_LIFETIME = 20 * 60.0
WORKER_INTERVAL = 0.2
MAX_OPEN = 3
GRACE = 4.0
ORDERS_ENV = {
    "NUMHUB_ORDERS_SERVICE_LIFETIMES": f"{EXPIRING_SERVICE}=1m",
    "NUMHUB_ORDERS_WORKER_INTERVAL": f"{int(WORKER_INTERVAL * 1000)}ms",
    "NUMHUB_ORDERS_MAX_OPEN": str(MAX_OPEN),
    "NUMHUB_SHUTDOWN_GRACE": f"{int(GRACE)}s",
    "NUMHUB_AUTH_CACHE_TTL": "3s",
}
# How long orders remembers an API key's answer: a revoked key's streams end within it.
AUTH_CACHE_TTL = 3.0

# What the operator sells.
WA_US, TG_US, WA_DE = 150, 90, 200
US_NUMBERS = [f"+1202555{i:04d}" for i in range(2000, 2040)]

# Statuses.
CREATING, WAITING, RECEIVED, FINISHED = (O.ACTIVATION_STATUS_CREATING, O.ACTIVATION_STATUS_WAITING,
                                         O.ACTIVATION_STATUS_RECEIVED, O.ACTIVATION_STATUS_FINISHED)
CANCELLED, EXPIRED, SKIPPED, FAILED = (O.ACTIVATION_STATUS_CANCELLED, O.ACTIVATION_STATUS_EXPIRED,
                                       O.ACTIVATION_STATUS_SKIPPED, O.ACTIVATION_STATUS_FAILED)
TERMINAL = {FINISHED, CANCELLED, EXPIRED, SKIPPED, FAILED}

# Reasons (ErrorInfo.reason, domain numhub.dev).
INSUFFICIENT_BALANCE = "INSUFFICIENT_BALANCE"
NO_NUMBERS_AVAILABLE = "NO_NUMBERS_AVAILABLE"
PRICE_ABOVE_MAX = "PRICE_ABOVE_MAX"
NOT_OFFERED = "NOT_OFFERED"
OPEN_ACTIVATION_LIMIT = "OPEN_ACTIVATION_LIMIT"
SMS_ALREADY_RECEIVED = "SMS_ALREADY_RECEIVED"
NO_SMS_RECEIVED = "NO_SMS_RECEIVED"
ACTIVATION_ENDED = "ACTIVATION_ENDED"
REUSE_WINDOW_CLOSED = "REUSE_WINDOW_CLOSED"
IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
RESOURCE_NOT_FOUND = "RESOURCE_NOT_FOUND"
INVALID_FIELD = "INVALID_FIELD"

E164 = re.compile(r"\+[1-9][0-9]{6,14}")

# How soon a delivered SMS must reach an open stream ("within milliseconds";
# a couple of seconds here, for slow CI machines).
PUSH_LIMIT = 2.0


# ---------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------


def status_name(value) -> str:
    try:
        return O.ActivationStatus.Name(value)
    except ValueError:
        return str(value)


def names(statuses) -> list:
    return [status_name(s) for s in statuses]


def statuses_of(events) -> list:
    return [e.status_changed.status for e in events if e.WhichOneof("event") == "status_changed"]


def messages_of(events) -> list:
    return [e.message for e in events if e.WhichOneof("event") == "message"]


# ---------------------------------------------------------------------------
# the test context: one deployment, its customers and what outlives a restart
# ---------------------------------------------------------------------------


class Customer:
    """An account made by the operator, with a read + write key and a wallet."""

    def __init__(self, ctx: "Ctx", tag: str, credit: int = 0, rate_limits=ROOMY):
        dep = ctx.dep
        self.ctx = ctx
        self.tag = tag
        self.id = dep.create_account(f"e2e orders {tag} {ctx.scenario}", rate_limits=rate_limits).id
        self.key = dep.create_key(self.id, scopes=(READ, WRITE), name=f"orders {tag}").secret
        self.api = dep.client(self.key).orders
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
        """The balance is `want`, at once or (refunds may settle behind the
        answer) within `settle` seconds; notes how long it took."""
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

    def create_req(self, service="wa", country="US", request_id=None, max_price=None, operator="") \
            -> O.CreateActivationRequest:
        req = O.CreateActivationRequest(service_code=service, country_code=country, operator=operator,
                                        request_id=request_id or rid())
        if max_price is not None:
            req.max_price.CopyFrom(max_price if hasattr(max_price, "minor_units") else money(max_price))
        return req

    def buy(self, what: str = "", service="wa", country="US", price=WA_US, req=None) -> O.Activation:
        req = req or self.create_req(service, country)
        what = what or f"{self.tag}: CreateActivation({req.service_code}, {req.country_code})"
        before = time.time()
        a = ok(what, self.api.CreateActivation, req)
        after = time.time()
        check_uuid7(a.id, f"{what}: Activation.id")
        check_eq(status_name(a.status), "ACTIVATION_STATUS_WAITING", f"{what}: status of the bought activation")
        check(E164.fullmatch(a.phone_number), f"{what}: phone_number {a.phone_number!r} is not E.164")
        check(a.phone_number in US_NUMBERS or req.country_code != "US",
              f"{what}: phone_number {a.phone_number} is not one of the imported US numbers")
        check_eq((a.service_code, a.country_code, a.price), (req.service_code, req.country_code, money(price, "USD")),
                 f"{what}: (service_code, country_code, price)")
        check(before - 2 <= secs(a.create_time) <= after + 2,
              f"{what}: create_time {secs(a.create_time)} is not between {before} and {after}")
        lifetime = EXPIRING_LIFETIME if req.service_code == EXPIRING_SERVICE else DEFAULT_LIFETIME
        check(abs(secs(a.expire_time) - secs(a.create_time) - lifetime) < 1.0,
              f"{what}: expire_time - create_time = {secs(a.expire_time) - secs(a.create_time):.3f}s, expected "
              f"the {req.service_code} lifetime {lifetime:.0f}s")
        check(not a.HasField("end_time"), f"{what}: a new activation has an end_time {show(a.end_time)}")
        check_eq(a.refunded.minor_units, 0, f"{what}: refunded of a new activation")
        check_eq((a.code, list(a.messages)), ("", []), f"{what}: (code, messages) of a new activation")
        self.ctx.kept.append((self, a.id))
        return a

    def get(self, activation_id: str, what: str = "") -> O.Activation:
        return ok(what or f"{self.tag}: GetActivation({activation_id})", self.api.GetActivation,
                  O.GetActivationRequest(id=activation_id))

    def deliver(self, a: O.Activation, body: str, sender: str = "WhatsApp", inbound_id=None) -> O.Message:
        return self.ctx.deliver(a, body, sender, inbound_id)


class Ctx:
    def __init__(self, scenario: str, dep: Deployment):
        self.scenario = scenario
        self.dep = dep
        self.kept: list = []  # (customer, activation id) bought so far
        self.expiry = None  # what expiry_arm bought
        self.resume = None  # (customer, activation, messages, cursors) of the resume check
        self.snapshot = None  # activations as GetActivation showed them before the restart
        self.stopped = False  # orders was stopped on purpose (SIGTERM), not yet restarted

    @property
    def internal(self):
        return self.dep.internal().orders_internal

    def setup(self):
        """The operator's stock and prices."""
        admin = self.dep.admin().catalog_admin
        rows = [C.NumberImport(phone_number=p, country_code="US", number_type=C.NUMBER_TYPE_VOIP, source="e2e")
                for p in US_NUMBERS]
        r = ok(f"ImportNumbers of {len(rows)} US numbers", admin.ImportNumbers, C.ImportNumbersRequest(numbers=rows))
        check_eq((r.imported_count, list(r.rejected)), (len(rows), []), "ImportNumbers (imported_count, rejected)")
        for service, country, units in (("wa", "US", WA_US), (EXPIRING_SERVICE, "US", TG_US), ("wa", "DE", WA_DE)):
            ok(f"SetActivationPrice({service}, {country}, {units})", admin.SetActivationPrice,
               C.SetActivationPriceRequest(service_code=service, country_code=country, price=money(units)))

    def customer(self, tag: str, credit: int = 0, rate_limits=ROOMY) -> Customer:
        return Customer(self, tag, credit, rate_limits)

    def deliver_req(self, activation_id: str, body: str, sender: str = "WhatsApp", inbound_id=None,
                    at=None) -> O.DeliverMessageRequest:
        return O.DeliverMessageRequest(activation_id=activation_id, inbound_message_id=inbound_id or rid(),
                                       sender=sender, body=body, receive_time=ts(at if at is not None else time.time()))

    def deliver(self, a: O.Activation, body: str, sender: str = "WhatsApp", inbound_id=None) -> O.Message:
        req = self.deliver_req(a.id, body, sender, inbound_id)
        m = ok(f"DeliverMessage({a.id}, {body!r}) with the service credential", self.internal.DeliverMessage, req)
        check_uuid7(m.id, "Message.id")
        check_eq((m.activation_id, m.phone_number, m.sender, m.body, m.receive_time),
                 (a.id, a.phone_number, sender, body, req.receive_time),
                 "the delivered Message (activation_id, phone_number, sender, body, receive_time)")
        return m


# ---------------------------------------------------------------------------
# the checks; each takes a Ctx
# ---------------------------------------------------------------------------


def t_health(ctx: Ctx):
    check_health(ctx.dep.orders, ORDERS_SERVICES)


def t_reflection(ctx: Ctx):
    check_reflection(ctx.dep.orders, ORDERS_SERVICES)


def t_reflection_grpcurl(ctx: Ctx):
    check_reflection_grpcurl(ctx.dep.orders, ORDERS_SERVICES)


def t_expiry_arm(ctx: Ctx):
    """Buys two tg activations (1 min lifetime); one gets an SMS. "expiry" judges them."""
    e = ctx.customer("expiry", credit=1000)
    quiet = e.buy("CreateActivation(tg, US), to expire without an SMS", service=EXPIRING_SERVICE, price=TG_US)
    answered = e.buy("CreateActivation(tg, US), to expire after an SMS", service=EXPIRING_SERVICE, price=TG_US)
    e.check_balance(1000 - 2 * TG_US, "after buying two tg activations")
    m = e.deliver(answered, "Telegram code: 55555. Do not give it to anyone", sender="Telegram")
    check_eq(m.code, "55555", "code read out of \"Telegram code: 55555. ...\"")
    check_eq(status_name(e.get(answered.id).status), "ACTIVATION_STATUS_RECEIVED", "status after the SMS")
    # A stream of the quiet one, open until it ends by itself with the expiry.
    w = Watch("WatchActivation of the tg activation that will expire", e.api.WatchActivation,
              O.WatchActivationRequest(id=quiet.id), timeout=EXPIRING_LIFETIME + 120)
    w.wait("the WAITING status", lambda items: WAITING in statuses_of(items), 5)
    ctx.expiry = (e, quiet, answered, m, w)


def t_buy_watch_complete(ctx: Ctx):
    """Buy, charge, a stream opened before the SMS gets it at once, complete, the stream ends."""
    c = ctx.customer("buyer", credit=1000)
    a = c.buy()
    c.check_balance(1000 - WA_US, "after CreateActivation (the price taken)")
    got = c.get(a.id)
    check_eq(status_name(got.status), "ACTIVATION_STATUS_WAITING", "GetActivation status after the purchase")
    check_eq((got.id, got.phone_number, got.price, got.expire_time), (a.id, a.phone_number, a.price, a.expire_time),
             "GetActivation (id, phone_number, price, expire_time) vs CreateActivation's answer")

    w = Watch("WatchActivation of the new activation", c.api.WatchActivation, O.WatchActivationRequest(id=a.id))
    try:
        w.wait("the WAITING status", lambda items: WAITING in statuses_of(items), 5)
        time.sleep(0.2)  # the stream is now waiting for live events
        before = len(w.got())
        t0 = time.monotonic()
        m = c.deliver(a, "Your WhatsApp code is 123-456")
        check_eq(m.code, "123456", "Message.code read out of \"Your WhatsApp code is 123-456\"")
        w.wait("the message and the RECEIVED status",
               lambda items: messages_of(items[before:]) and RECEIVED in statuses_of(items[before:]), PUSH_LIMIT)
        pushed = time.monotonic() - t0
        live = w.got()[before:]
        msgs = messages_of(live)
        check_eq([(x.id, x.code, x.body, x.activation_id) for x in msgs], [(m.id, "123456", m.body, a.id)],
                 "messages pushed on the stream after the delivery (id, code, body, activation_id)")
        received = [e.status_changed for e in live if e.WhichOneof("event") == "status_changed"]
        check_eq(received[0].code, "123456", "the RECEIVED event's activation code")
        note(f"message and RECEIVED reached the open stream {pushed * 1000:.0f} ms after DeliverMessage was sent")

        got = c.get(a.id)
        check_eq((status_name(got.status), got.code), ("ACTIVATION_STATUS_RECEIVED", "123456"),
                 "GetActivation (status, code) after the SMS")
        check_eq([(x.id, x.code) for x in got.messages], [(m.id, "123456")], "GetActivation messages (id, code)")

        done = ok("CompleteActivation", c.api.CompleteActivation, O.CompleteActivationRequest(id=a.id))
        check_eq(status_name(done.status), "ACTIVATION_STATUS_FINISHED", "status after CompleteActivation")
        check(done.HasField("end_time"), "a FINISHED activation has no end_time")
        check_eq(done.refunded.minor_units, 0, "refunded of a completed activation (the price is kept)")
        end = w.wait_end(PUSH_LIMIT + 1)
        check(end is not None, f"the WatchActivation stream did not end by itself {PUSH_LIMIT + 1:.0f}s after "
                               f"CompleteActivation; received {show(w.got())}")
        check_eq(end[0], "OK", f"how the WatchActivation stream ended ({end[1]!r})")
        events = w.got()
        check_eq(events[-1].WhichOneof("event"), "status_changed", "the last event of the stream")
        check_eq(status_name(events[-1].status_changed.status), "ACTIVATION_STATUS_FINISHED",
                 "the status of the stream's last event")
        sts = statuses_of(events)
        check_eq(names(sts[-3:]), names([WAITING, RECEIVED, FINISHED]), "the stream's last three statuses")
        check(set(sts[:-3]) <= {CREATING}, f"statuses before WAITING on the stream: {names(sts)}")
        check_eq(len(messages_of(events)), 1, "messages on the stream (each once)")
        cursors = [e.cursor for e in events]
        check(all(cursors) and len(set(cursors)) == len(cursors), f"stream cursors not all distinct and "
                                                                  f"non-empty: {cursors}")
        note(f"WatchActivation events: {[e.WhichOneof('event') for e in events]}, statuses {names(sts)}; ended "
             f"{end[2] * 1000:.0f} ms after CompleteActivation answered")
    finally:
        w.cancel()
    again = ok("CompleteActivation again", c.api.CompleteActivation, O.CompleteActivationRequest(id=a.id))
    check_eq((status_name(again.status), again.end_time), (status_name(done.status), done.end_time),
             "CompleteActivation of a FINISHED activation (returned unchanged: status, end_time)")
    c.check_balance(1000 - WA_US, "after the activation finished (the price kept)")
    # A stream opened on a finished activation replays its history and ends.
    w2 = Watch("WatchActivation of the finished activation", c.api.WatchActivation, O.WatchActivationRequest(id=a.id))
    end = w2.wait_end(5)
    check(end is not None and end[0] == "OK", f"WatchActivation of a FINISHED activation: expected its history then "
                                              f"the end, got end {end} after {show(w2.got())}")
    check_eq([e.cursor for e in w2.got()], cursors, "the replayed history's cursors (as first streamed)")
    # Resuming after the FINISHED event: nothing more, and the end.
    w3 = Watch("WatchActivation after the last cursor", c.api.WatchActivation,
               O.WatchActivationRequest(id=a.id, after=cursors[-1]))
    end = w3.wait_end(5)
    check(end is not None and end[0] == "OK" and not w3.got(),
          f"WatchActivation of a FINISHED activation after its last cursor: expected no event and the end, got end "
          f"{end} after {show(w3.got())}")


def t_cancel_refund(ctx: Ctx):
    """Cancel before an SMS: CANCELLED, refunded in full, once."""
    c = ctx.customer("canceller", credit=500)
    a = c.buy()
    c.check_balance(500 - WA_US, "after CreateActivation")
    x = ok("CancelActivation", c.api.CancelActivation, O.CancelActivationRequest(id=a.id))
    check_eq(status_name(x.status), "ACTIVATION_STATUS_CANCELLED", "status after CancelActivation")
    check_eq(x.refunded, money(WA_US, "USD"), "refunded after CancelActivation")
    check(x.HasField("end_time"), "a CANCELLED activation has no end_time")
    c.check_balance(500, "after CancelActivation (the price refunded)")
    again = ok("CancelActivation again", c.api.CancelActivation, O.CancelActivationRequest(id=a.id))
    check_eq((status_name(again.status), again.refunded, again.end_time),
             (status_name(x.status), x.refunded, x.end_time), "CancelActivation of a CANCELLED activation "
                                                               "(returned unchanged: status, refunded, end_time)")
    time.sleep(0.3)
    c.check_balance(500, "after the second CancelActivation (nothing more refunded)", settle=0)
    check_eq(status_name(c.get(a.id).status), "ACTIVATION_STATUS_CANCELLED", "GetActivation after the cancels")
    for what, fn, req in [
        ("CompleteActivation of a CANCELLED activation", c.api.CompleteActivation, O.CompleteActivationRequest(id=a.id)),
        ("RequestAnotherSms of a CANCELLED activation", c.api.RequestAnotherSms, O.RequestAnotherSmsRequest(id=a.id)),
        ("SkipNumber of a CANCELLED activation", c.api.SkipNumber, O.SkipNumberRequest(id=a.id)),
        ("DeliverMessage to a CANCELLED activation", ctx.internal.DeliverMessage,
         ctx.deliver_req(a.id, "Your WhatsApp code is 111-222")),
    ]:
        check_error(what, fn, req, FAILED_PRECONDITION, ACTIVATION_ENDED)
    check_eq(list(c.get(a.id).messages), [], "messages of the CANCELLED activation after the refused delivery")
    c.check_balance(500, "after the refused calls on the CANCELLED activation", settle=0)

    # With an SMS: no cancel; without one: no complete.
    b = c.buy()
    check_error("CompleteActivation without an SMS", c.api.CompleteActivation, O.CompleteActivationRequest(id=b.id),
                FAILED_PRECONDITION, NO_SMS_RECEIVED)
    c.deliver(b, "Your WhatsApp code is 333-444")
    check_error("CancelActivation after an SMS", c.api.CancelActivation, O.CancelActivationRequest(id=b.id),
                FAILED_PRECONDITION, SMS_ALREADY_RECEIVED)
    check_error("SkipNumber after an SMS", c.api.SkipNumber, O.SkipNumberRequest(id=b.id),
                FAILED_PRECONDITION, SMS_ALREADY_RECEIVED)
    check_eq(status_name(c.get(b.id).status), "ACTIVATION_STATUS_RECEIVED", "status after the refused cancel")
    c.check_balance(500 - WA_US, "after the refused cancel (the price kept)", settle=0)


def t_another_sms_skip_reuse(ctx: Ctx):
    """RequestAnotherSms, SkipNumber and ReuseNumber."""
    c = ctx.customer("reuser", credit=1000)
    a = c.buy()
    w = ok("RequestAnotherSms while WAITING", c.api.RequestAnotherSms, O.RequestAnotherSmsRequest(id=a.id))
    check_eq((status_name(w.status), w.expire_time), ("ACTIVATION_STATUS_WAITING", a.expire_time),
             "RequestAnotherSms while WAITING changes nothing (status, expire_time)")
    m1 = c.deliver(a, "Your WhatsApp code is 123-456")
    r = ok("RequestAnotherSms after an SMS", c.api.RequestAnotherSms, O.RequestAnotherSmsRequest(id=a.id))
    check_eq((status_name(r.status), r.expire_time), ("ACTIVATION_STATUS_WAITING", a.expire_time),
             "RequestAnotherSms after an SMS (status back to WAITING, the expiry unchanged)")
    m2 = c.deliver(a, "Your WhatsApp code is 654-321")
    got = c.get(a.id)
    check_eq((status_name(got.status), got.code, [(x.id, x.code) for x in got.messages]),
             ("ACTIVATION_STATUS_RECEIVED", "654321", [(m1.id, "123456"), (m2.id, "654321")]),
             "after the second SMS (status, code of the latest, messages oldest first)")
    done = ok("CompleteActivation", c.api.CompleteActivation, O.CompleteActivationRequest(id=a.id))
    check_eq(status_name(done.status), "ACTIVATION_STATUS_FINISHED", "status after CompleteActivation")
    check_error("RequestAnotherSms of a FINISHED activation", c.api.RequestAnotherSms,
                O.RequestAnotherSmsRequest(id=a.id), FAILED_PRECONDITION, ACTIVATION_ENDED)
    check_error("CancelActivation of a FINISHED activation", c.api.CancelActivation,
                O.CancelActivationRequest(id=a.id), FAILED_PRECONDITION, ACTIVATION_ENDED)
    c.check_balance(1000 - WA_US, "after one finished activation")

    # ReuseNumber: the same number, a new activation, charged again; idempotent.
    req = O.ReuseNumberRequest(activation_id=a.id, request_id=rid())
    re1 = ok("ReuseNumber of the FINISHED activation", c.api.ReuseNumber, req)
    check_uuid7(re1.id, "the reused activation's id")
    check(re1.id != a.id, "ReuseNumber returned the old activation's id")
    check_eq((status_name(re1.status), re1.phone_number, re1.service_code, re1.reused_activation_id, re1.price),
             ("ACTIVATION_STATUS_WAITING", a.phone_number, a.service_code, a.id, money(WA_US, "USD")),
             "the reusing activation (status, phone_number, service_code, reused_activation_id, price)")
    ctx.kept.append((c, re1.id))
    re2 = ok("ReuseNumber retried with the same request_id", c.api.ReuseNumber, req)
    check_eq(re2.id, re1.id, "the retried ReuseNumber's activation")
    c.check_balance(1000 - 2 * WA_US, "after ReuseNumber and its retry (charged once)")
    other = O.ReuseNumberRequest(activation_id=re1.id, request_id=req.request_id)
    check_error("ReuseNumber reusing the request_id for another activation", c.api.ReuseNumber, other,
                FAILED_PRECONDITION, IDEMPOTENCY_KEY_REUSED)
    check_error("ReuseNumber of a WAITING activation", c.api.ReuseNumber,
                O.ReuseNumberRequest(activation_id=re1.id, request_id=rid()), FAILED_PRECONDITION,
                REUSE_WINDOW_CLOSED)
    x = ok("CancelActivation of the reusing activation", c.api.CancelActivation, O.CancelActivationRequest(id=re1.id))
    check_eq((status_name(x.status), x.refunded), ("ACTIVATION_STATUS_CANCELLED", money(WA_US, "USD")),
             "the cancelled reusing activation (status, refunded)")
    c.check_balance(1000 - WA_US, "after cancelling the reusing activation")
    check_error("ReuseNumber of a CANCELLED activation", c.api.ReuseNumber,
                O.ReuseNumberRequest(activation_id=re1.id, request_id=rid()), FAILED_PRECONDITION,
                REUSE_WINDOW_CLOSED)

    # SkipNumber: SKIPPED, refunded, once.
    s = c.buy()
    sk = ok("SkipNumber", c.api.SkipNumber, O.SkipNumberRequest(id=s.id))
    check_eq((status_name(sk.status), sk.refunded), ("ACTIVATION_STATUS_SKIPPED", money(WA_US, "USD")),
             "after SkipNumber (status, refunded)")
    again = ok("SkipNumber again", c.api.SkipNumber, O.SkipNumberRequest(id=s.id))
    check_eq((status_name(again.status), again.end_time), (status_name(sk.status), sk.end_time),
             "SkipNumber of a SKIPPED activation (returned unchanged)")
    check_error("CancelActivation of a SKIPPED activation", c.api.CancelActivation,
                O.CancelActivationRequest(id=s.id), FAILED_PRECONDITION, ACTIVATION_ENDED)
    c.check_balance(1000 - WA_US, "after SkipNumber and its repeat (refunded once)")


def t_delivery_and_access(ctx: Ctx):
    """DeliverMessage is idempotent and for numhub's services only; customers see only their own."""
    c = ctx.customer("owner", credit=500)
    d = ctx.customer("stranger", credit=500)
    a = c.buy()
    inbound = f"e2e-inbound-{uuid.uuid4().hex}"
    req = ctx.deliver_req(a.id, "Your WhatsApp code is 246-810", inbound_id=inbound)
    m1 = ok("DeliverMessage", ctx.internal.DeliverMessage, req)
    m2 = ok("DeliverMessage again (same inbound_message_id)", ctx.internal.DeliverMessage, req)
    check_eq(m2, m1, "the redelivered message (the stored one)")
    got = c.get(a.id)
    check_eq([x.id for x in got.messages], [m1.id], "messages stored after two deliveries of one SMS")

    dep = ctx.dep
    other = ctx.deliver_req(a.id, "Your WhatsApp code is 999-999")
    for who, client in (("a customer's API key", dep.client(c.key)), ("the admin key", dep.admin())):
        check_error(f"DeliverMessage with {who}", client.orders_internal.DeliverMessage, other, PERMISSION_DENIED,
                    SERVICE_CREDENTIAL_REQUIRED)
    check_error("DeliverMessage without a credential", dep.anonymous().orders_internal.DeliverMessage, other,
                UNAUTHENTICATED, MISSING_CREDENTIAL)
    check_error("GetActivation without a credential", dep.anonymous().orders.GetActivation,
                O.GetActivationRequest(id=a.id), UNAUTHENTICATED, MISSING_CREDENTIAL)
    check_eq([x.id for x in c.get(a.id).messages], [m1.id], "messages after the refused deliveries")

    s = d.api
    for what, fn, r in [
        ("GetActivation", s.GetActivation, O.GetActivationRequest(id=a.id)),
        ("CancelActivation", s.CancelActivation, O.CancelActivationRequest(id=a.id)),
        ("CompleteActivation", s.CompleteActivation, O.CompleteActivationRequest(id=a.id)),
        ("RequestAnotherSms", s.RequestAnotherSms, O.RequestAnotherSmsRequest(id=a.id)),
        ("SkipNumber", s.SkipNumber, O.SkipNumberRequest(id=a.id)),
        ("ReuseNumber", s.ReuseNumber, O.ReuseNumberRequest(activation_id=a.id, request_id=rid())),
    ]:
        check_error(f"{what} of another customer's activation", fn, r, NOT_FOUND, RESOURCE_NOT_FOUND)
    w = Watch("WatchActivation of another customer's activation", s.WatchActivation,
              O.WatchActivationRequest(id=a.id), timeout=10)
    end = w.wait_end(5)
    check(end is not None, "WatchActivation of another customer's activation did not end")
    check(w.error is not None, f"WatchActivation of another customer's activation: expected NOT_FOUND, got end {end} "
                               f"after {show(w.got())}")
    check_details("WatchActivation of another customer's activation", w.error, NOT_FOUND, RESOURCE_NOT_FOUND)
    listed = ok("ListActivations of the other customer", s.ListActivations, O.ListActivationsRequest()).activations
    check(a.id not in [x.id for x in listed], "another customer's activation appears in ListActivations")
    wm = Watch("WatchMessages of the other customer", s.WatchMessages, O.WatchMessagesRequest(), timeout=10)
    time.sleep(0.5)
    wm.cancel()
    check_eq(wm.got(), [], "WatchMessages of a customer without messages (another customer's are not theirs)")
    got = c.get(a.id)
    check_eq((status_name(got.status), len(got.messages)), ("ACTIVATION_STATUS_RECEIVED", 1),
             "the activation after the other customer's attempts (status, messages)")
    c.check_balance(500 - WA_US, "of the owner", settle=0)
    d.check_balance(500, "of the other customer (charged nothing)", settle=0)

    unknown = str(uuid.uuid4())
    check_error("GetActivation of an unknown id", c.api.GetActivation, O.GetActivationRequest(id=unknown), NOT_FOUND,
                RESOURCE_NOT_FOUND)
    check_error("DeliverMessage to an unknown activation", ctx.internal.DeliverMessage,
                ctx.deliver_req(unknown, "Your WhatsApp code is 123-456"), NOT_FOUND, RESOURCE_NOT_FOUND)


def t_idempotency(ctx: Ctx):
    """CreateActivation retried: one activation, one charge; a key reused for another request; no money."""
    c = ctx.customer("idempotent", credit=1000)
    req = c.create_req()
    a1 = c.buy("CreateActivation", req=req)
    a2 = ok("CreateActivation retried with the same request_id", c.api.CreateActivation, req)
    check_eq((a2.id, a2.phone_number, a2.price, a2.create_time), (a1.id, a1.phone_number, a1.price, a1.create_time),
             "the retried CreateActivation (id, phone_number, price, create_time)")
    c.check_balance(1000 - WA_US, "after CreateActivation and its retry (charged once)")
    for what, changed in [("another country", c.create_req(country="DE", request_id=req.request_id)),
                          ("another service", c.create_req(service=EXPIRING_SERVICE, request_id=req.request_id)),
                          ("a max_price", c.create_req(request_id=req.request_id, max_price=1000))]:
        check_error(f"CreateActivation reusing the request_id with {what}", c.api.CreateActivation, changed,
                    FAILED_PRECONDITION, IDEMPOTENCY_KEY_REUSED)
    c.check_balance(1000 - WA_US, "after the refused reuses of the request_id", settle=0)
    listed = ok("ListActivations", c.api.ListActivations, O.ListActivationsRequest()).activations
    check_eq([x.id for x in listed if x.status not in (FAILED,)], [a1.id], "the customer's activations")

    poor = ctx.customer("poor", credit=WA_US - 1)
    preq = poor.create_req()
    check_error(f"CreateActivation with a balance of {WA_US - 1} (price {WA_US})", poor.api.CreateActivation, preq,
                FAILED_PRECONDITION, INSUFFICIENT_BALANCE)
    poor.check_balance(WA_US - 1, "after the refused purchase", settle=0)
    check_error("the refused CreateActivation retried", poor.api.CreateActivation, preq, FAILED_PRECONDITION,
                INSUFFICIENT_BALANCE)
    poor.check_balance(WA_US - 1, "after the refused purchase retried", settle=0)
    listed = ok("ListActivations of the poor customer", poor.api.ListActivations,
                O.ListActivationsRequest()).activations
    check(all(x.status == FAILED for x in listed),
          f"the poor customer has activations other than FAILED: {show(list(listed))}")
    failed = [x for x in listed if x.status == FAILED]
    if failed:
        check_eq((failed[0].failure_reason, failed[0].refunded.minor_units), (INSUFFICIENT_BALANCE, 0),
                 "the FAILED activation (failure_reason, refunded)")
    note(f"after INSUFFICIENT_BALANCE the customer lists {len(failed)} FAILED activation(s)")
    # Topped up, a new request_id buys.
    poor.credit(1)
    poor.buy("CreateActivation with exactly the price in the wallet")
    poor.check_balance(0, "after buying with exactly the price")


def t_refusals(ctx: Ctx):
    """No number, price above max, not offered, unknown, malformed; the open-activation limit."""
    c = ctx.customer("refused", credit=10_000)
    cases = [
        ("CreateActivation(wa, DE): priced, no number", c.create_req(country="DE"), FAILED_PRECONDITION,
         NO_NUMBERS_AVAILABLE),
        (f"CreateActivation(wa, US) with max_price {WA_US - 1}", c.create_req(max_price=WA_US - 1),
         FAILED_PRECONDITION, PRICE_ABOVE_MAX),
        ("CreateActivation(wa, GB): no price", c.create_req(country="GB"), FAILED_PRECONDITION, NOT_OFFERED),
        ("CreateActivation in an unknown country", c.create_req(country="XX"), NOT_FOUND, RESOURCE_NOT_FOUND),
        ("CreateActivation of an unknown service", c.create_req(service="zzz9"), NOT_FOUND, RESOURCE_NOT_FOUND),
    ]
    problems = []
    for what, req, code, reason in cases:
        try:
            check_error(what, c.api.CreateActivation, req, code, reason)
        except Failure as e:
            problems.append(str(e))
    c.check_balance(10_000, "after the refused purchases", settle=0)
    a = c.buy(f"CreateActivation with max_price {WA_US}", req=c.create_req(max_price=money(WA_US, "USD")))
    ok("CancelActivation", c.api.CancelActivation, O.CancelActivationRequest(id=a.id))
    c.check_balance(10_000, "after buying within max_price and cancelling")

    bad = [
        ("CreateActivation without service_code", c.api.CreateActivation, c.create_req(service=""), "service_code"),
        ("CreateActivation with country \"us\"", c.api.CreateActivation, c.create_req(country="us"), "country_code"),
        ("CreateActivation without request_id", c.api.CreateActivation,
         O.CreateActivationRequest(service_code="wa", country_code="US"), "request_id"),
        ("GetActivation of \"not-a-uuid\"", c.api.GetActivation, O.GetActivationRequest(id="not-a-uuid"), "id"),
        ("CancelActivation without id", c.api.CancelActivation, O.CancelActivationRequest(), "id"),
        ("ReuseNumber without request_id", c.api.ReuseNumber, O.ReuseNumberRequest(activation_id=str(uuid.uuid4())),
         "request_id"),
        ("ListActivations page_size 101", c.api.ListActivations, O.ListActivationsRequest(page_size=101),
         "page_size"),
        ("ListActivations garbage page_token", c.api.ListActivations, O.ListActivationsRequest(page_token="garbage!"),
         "page_token"),
        ("DeliverMessage with an empty body", ctx.internal.DeliverMessage, ctx.deliver_req(a.id, ""), "body"),
        ("DeliverMessage with an inbound_message_id of 256 characters", ctx.internal.DeliverMessage,
         ctx.deliver_req(a.id, "code 1234", inbound_id="i" * 256), "inbound_message_id"),
        ("DeliverMessage with a body of 4097 characters", ctx.internal.DeliverMessage,
         ctx.deliver_req(a.id, "x" * 4097), "body"),
        ("DeliverMessage without receive_time", ctx.internal.DeliverMessage,
         O.DeliverMessageRequest(activation_id=a.id, inbound_message_id=rid(), body="code 1234"), "receive_time"),
    ]
    for what, fn, req, field in bad:
        try:
            check_error(what, fn, req, INVALID_ARGUMENT, INVALID_FIELD, field)
        except Failure as e:
            problems.append(str(e))
    # max_price in another currency than the catalog's (USD).
    what = "CreateActivation(wa, US) with max_price EUR 500 (the catalog sells in USD)"
    kind, res = outcome(c.api.CreateActivation, c.create_req(max_price=money(500, "EUR")))
    if kind == "OK":
        x = ok("CancelActivation of the activation bought with an EUR max_price", c.api.CancelActivation,
               O.CancelActivationRequest(id=res.id))
        deviation(f"{what} was accepted: it bought activation {res.id} at {show(res.price)} (status "
                  f"{status_name(res.status)}), comparing the EUR limit with a USD price; expected INVALID_ARGUMENT "
                  f"INVALID_FIELD naming max_price (orders.proto CreateActivationRequest.max_price: \"Its currency, "
                  f"when named, must be the catalog's\"). Cancelled it: {status_name(x.status)}")
        c.check_balance(10_000, "after cancelling the activation bought with an EUR max_price")
    else:
        try:
            check_details(what, res, INVALID_ARGUMENT, INVALID_FIELD, "max_price")
        except Failure as e:
            problems.append(str(e))
    # A limit of zero (or less) is a mistake, never "no limit": nothing is bought.
    for units in (0, -1):
        what = f"CreateActivation(wa, US) with max_price {units}"
        try:
            check_error(what, c.api.CreateActivation, c.create_req(max_price=money(units, "USD")), INVALID_ARGUMENT,
                        INVALID_FIELD, "max_price")
        except Failure as e:
            problems.append(str(e))
    c.check_balance(10_000, "after CreateActivation with a max_price of zero")
    for what, method, req in [
        ("WatchActivation with a cursor it did not issue", c.api.WatchActivation,
         O.WatchActivationRequest(id=a.id, after="garbage!")),
        ("WatchMessages with a cursor it did not issue", c.api.WatchMessages, O.WatchMessagesRequest(after="42")),
    ]:
        w = Watch(what, method, req, timeout=10)
        end = w.wait_end(5)
        if w.error is None:
            w.cancel()
            problems.append(f"{what}: expected INVALID_ARGUMENT naming `after`, got end {end} after {show(w.got())}")
            continue
        try:
            check_details(what, w.error, INVALID_ARGUMENT, INVALID_FIELD, "after")
        except Failure as e:
            problems.append(str(e))
    if problems:
        raise Failure(f"{len(problems)} of the refusals were not as the contract says:\n    - " +
                      "\n    - ".join(problems))


def t_open_limit(ctx: Ctx):
    """NUMHUB_ORDERS_MAX_OPEN (3): the next purchase is refused until one ends."""
    c = ctx.customer("busy", credit=10_000)
    held = [c.buy(f"CreateActivation #{i + 1} of {MAX_OPEN}") for i in range(MAX_OPEN)]
    over = c.create_req()
    check_error(f"CreateActivation #{MAX_OPEN + 1} (limit {MAX_OPEN} open)", c.api.CreateActivation, over,
                FAILED_PRECONDITION, OPEN_ACTIVATION_LIMIT)
    c.check_balance(10_000 - MAX_OPEN * WA_US, "after the purchase refused by the limit", settle=0)
    ok("CancelActivation of one", c.api.CancelActivation, O.CancelActivationRequest(id=held[0].id))
    check_error("the refused CreateActivation retried after a cancel (the recorded refusal)", c.api.CreateActivation,
                over, FAILED_PRECONDITION, OPEN_ACTIVATION_LIMIT)
    c.buy("CreateActivation with a new request_id after the cancel")
    c.check_balance(10_000 - MAX_OPEN * WA_US, "with the limit's worth of open activations")


def t_list(ctx: Ctx):
    """ListActivations: newest first, without messages, by status, in pages."""
    c = ctx.customer("lister", credit=1000)
    a = c.buy()
    c.deliver(a, "Your WhatsApp code is 121-212")
    ok("CompleteActivation", c.api.CompleteActivation, O.CompleteActivationRequest(id=a.id))
    b = c.buy()
    ok("CancelActivation", c.api.CancelActivation, O.CancelActivationRequest(id=b.id))
    d = c.buy()
    listed = ok("ListActivations", c.api.ListActivations, O.ListActivationsRequest()).activations
    check_eq([(x.id, status_name(x.status)) for x in listed],
             [(d.id, "ACTIVATION_STATUS_WAITING"), (b.id, "ACTIVATION_STATUS_CANCELLED"),
              (a.id, "ACTIVATION_STATUS_FINISHED")], "ListActivations (id, status), newest first")
    check(all(not x.messages for x in listed), "ListActivations returned messages")
    check_eq(listed[2].code, "121212", "the listed FINISHED activation's code")
    only = ok("ListActivations(FINISHED, CANCELLED)", c.api.ListActivations,
              O.ListActivationsRequest(statuses=[FINISHED, CANCELLED])).activations
    check_eq([x.id for x in only], [b.id, a.id], "ListActivations(statuses=[FINISHED, CANCELLED])")
    paged, token, pages = [], "", 0
    while True:
        pages += 1
        check(pages <= 5, "ListActivations(page_size=2) paged more than 5 times")
        r = ok("ListActivations(page_size=2)", c.api.ListActivations,
               O.ListActivationsRequest(page_size=2, page_token=token))
        check(len(r.activations) <= 2, f"ListActivations(page_size=2) returned {len(r.activations)}")
        paged.extend(x.id for x in r.activations)
        if not r.next_page_token:
            break
        token = r.next_page_token
    check_eq(paged, [x.id for x in listed], "ListActivations in pages of 2 vs in one page")


def t_tokens_bound(ctx: Ctx):
    """Page tokens and cursors work only where they were issued: another method's, another
    account's, another filter's, an altered or a made-up one is INVALID_ARGUMENT naming the field."""
    c = ctx.customer("tokens", credit=1000)
    other = ctx.customer("tokens-other", credit=1000)
    a = c.buy()
    c.buy()
    other.buy()
    mine = ctx.dep.client(c.key)
    ledger = ok("ListTransactions(page_size=1)", mine.wallet.ListTransactions,
                W.ListTransactionsRequest(page_size=1))
    check(ledger.next_page_token, "ListTransactions(page_size=1) of three entries gave no next_page_token")
    token = ledger.next_page_token
    page = ok("ListActivations(page_size=1)", c.api.ListActivations, O.ListActivationsRequest(page_size=1))
    check(page.next_page_token, "ListActivations(page_size=1) of two activations gave no next_page_token")
    forged = base64.urlsafe_b64encode(f"v1:{a.id}".encode()).decode().rstrip("=")
    raw = base64.urlsafe_b64decode(page.next_page_token + "=" * (-len(page.next_page_token) % 4))
    flipped = base64.urlsafe_b64encode(raw[:-1] + bytes([raw[-1] ^ 1])).decode().rstrip("=")
    refused = [
        ("ListActivations with a ListTransactions token", c.api.ListActivations,
         O.ListActivationsRequest(page_token=token)),
        ("ListApiKeys with a ListTransactions token", mine.accounts.ListApiKeys,
         A.ListApiKeysRequest(page_token=token)),
        ("ListRentals with a ListTransactions token", mine.rentals.ListRentals,
         R.ListRentalsRequest(page_token=token)),
        ("ListActivations with another account's token", other.api.ListActivations,
         O.ListActivationsRequest(page_size=1, page_token=page.next_page_token)),
        ("ListActivations with another status filter's token", c.api.ListActivations,
         O.ListActivationsRequest(statuses=[CANCELLED], page_token=page.next_page_token)),
        ("ListActivations with a token one bit altered", c.api.ListActivations,
         O.ListActivationsRequest(page_token=flipped)),
        ("ListActivations with a made-up v1: token", c.api.ListActivations,
         O.ListActivationsRequest(page_token=forged)),
    ]
    problems = []
    for what, method, req in refused:
        try:
            d = check_error(what, method, req, INVALID_ARGUMENT, INVALID_FIELD, "page_token")
            check(req.page_token not in d.message, f"{what}: the message echoes the token: {d.message!r}")
        except Failure as e:
            problems.append(str(e))
    d = check_error("ListActivations with a v1: token", c.api.ListActivations,
                    O.ListActivationsRequest(page_token=forged), INVALID_ARGUMENT, INVALID_FIELD, "page_token")
    check("earlier version" in d.message, f"a v1: token's message does not say it is outdated: {d.message!r}")
    # The method, account and filter that issued it take it.
    rest = ok("ListActivations(page_size=1) page 2", c.api.ListActivations,
              O.ListActivationsRequest(page_size=1, page_token=page.next_page_token))
    check_eq([x.id for x in rest.activations], [a.id], "ListActivations' second page")
    # A WatchActivation cursor sent to WatchMessages and WatchRental.
    w = Watch("WatchActivation from the start", c.api.WatchActivation, O.WatchActivationRequest(id=a.id))
    try:
        w.wait_count(1, 5)
    finally:
        w.cancel()
    cursor = w.got()[0].cursor
    for what, method, req in [
        ("WatchMessages with a WatchActivation cursor", c.api.WatchMessages, O.WatchMessagesRequest(after=cursor)),
        ("WatchRental with a WatchActivation cursor", mine.rentals.WatchRental,
         R.WatchRentalRequest(id=str(uuid.uuid4()), after=cursor)),
        ("WatchActivation of another account with its cursor", other.api.WatchActivation,
         O.WatchActivationRequest(id=a.id, after=cursor)),
    ]:
        s = Watch(what, method, req, timeout=10)
        s.wait_end(5)
        if s.error is None:
            s.cancel()
            problems.append(f"{what}: expected INVALID_ARGUMENT naming `after`, got {show(s.got())}")
            continue
        try:
            check_details(what, s.error, INVALID_ARGUMENT, INVALID_FIELD, "after")
        except Failure as e:
            problems.append(str(e))
    if problems:
        raise Failure(f"{len(problems)} tokens were not refused as the contract says:\n    - " +
                      "\n    - ".join(problems))


def t_watch_messages_resume(ctx: Ctx):
    """WatchMessages: read 2, disconnect, a 3rd arrives, resume after the 2nd: exactly the 3rd."""
    c = ctx.customer("streamer", credit=500)
    a = c.buy()
    m1 = c.deliver(a, "Your WhatsApp code is 100-001")
    m2 = c.deliver(a, "Your WhatsApp code is 200-002")
    w = Watch("WatchMessages from the start", c.api.WatchMessages, O.WatchMessagesRequest())
    try:
        w.wait_count(2, 5)
        time.sleep(0.3)
    finally:
        w.cancel()
    first = w.got()
    check_eq([(e.message.id, e.message.code) for e in first], [(m1.id, "100001"), (m2.id, "200002")],
             "WatchMessages from the start (message id, code)")
    cursors = [e.cursor for e in first]
    check(all(cursors) and cursors[0] != cursors[1], f"the two cursors: {cursors}")
    m3 = c.deliver(a, "Your WhatsApp code is 300-003")
    w2 = Watch("WatchMessages after the 2nd cursor", c.api.WatchMessages, O.WatchMessagesRequest(after=cursors[1]))
    try:
        w2.wait_count(1, 5)
        time.sleep(0.5)
    finally:
        w2.cancel()
    got = w2.got()
    check_eq([(e.message.id, e.message.code) for e in got], [(m3.id, "300003")],
             "WatchMessages resumed after the 2nd message's cursor (exactly the 3rd: no repeat, no gap)")
    # Live, after the 3rd: the next one arrives once.
    w3 = Watch("WatchMessages after the 3rd cursor", c.api.WatchMessages, O.WatchMessagesRequest(after=got[0].cursor))
    try:
        time.sleep(0.3)
        check_eq(w3.got(), [], "WatchMessages after the last cursor, before any new message")
        t0 = time.monotonic()
        m4 = c.deliver(a, "Your WhatsApp code is 400-004")
        w3.wait_count(1, PUSH_LIMIT)
        pushed = time.monotonic() - t0
        time.sleep(0.3)
    finally:
        w3.cancel()
    check_eq([e.message.id for e in w3.got()], [m4.id], "the live message on the resumed stream (once)")
    note(f"a live message reached WatchMessages {pushed * 1000:.0f} ms after DeliverMessage was sent")
    ctx.resume = (c, a, [m1, m2, m3, m4], cursors + [got[0].cursor, w3.got()[0].cursor])


def t_revoked_key_ends_streams(ctx: Ctx):
    """Streams opened with a key end UNAUTHENTICATED within the auth cache's TTL of its revocation, and an
    SMS that arrives after that reaches none of them."""
    c = ctx.customer("revoked", credit=500)
    key = ctx.dep.create_key(c.id, scopes=(READ, WRITE), name="orders revoked streams")
    api = ctx.dep.client(key.secret).orders
    a = c.buy()
    watches = [Watch("WatchActivation", api.WatchActivation, O.WatchActivationRequest(id=a.id)),
               Watch("WatchMessages", api.WatchMessages, O.WatchMessagesRequest())]
    try:
        first = c.deliver(a, "Your WhatsApp code is 111-222")
        for w in watches:
            w.wait(f"{w.what}: the first SMS", lambda items: any(e.HasField("message") for e in items), PUSH_LIMIT)
        ok("RevokeApiKey of the streams' key", c.ctx.dep.client(c.key).accounts.RevokeApiKey,
           A.RevokeApiKeyRequest(api_key_id=key.api_key.id))
        revoked = time.monotonic()
        for w in watches:
            end = w.wait_end(AUTH_CACHE_TTL + 5)
            check(end is not None, f"{w.what} was still open {time.monotonic() - revoked:.1f}s after its key was "
                                   f"revoked (auth cache TTL {AUTH_CACHE_TTL}s)")
            check_details(f"{w.what} after the revocation", w.error, UNAUTHENTICATED, "INVALID_API_KEY")
            took = w.end[0] - revoked
            check(took <= AUTH_CACHE_TTL + 1, f"{w.what} ended {took:.1f}s after the revocation, later than the "
                                              f"{AUTH_CACHE_TTL}s cache TTL")
            note(f"{w.what} ended {took:.1f}s after its key was revoked (cache TTL {AUTH_CACHE_TTL}s)")
        late = c.deliver(a, "Your WhatsApp code is 333-444")
        time.sleep(0.5)
        for w in watches:
            ids = [e.message.id for e in w.got() if e.HasField("message")]
            check_eq(ids, [first.id], f"{w.what}: the messages it carried (none after the revocation, not {late.id})")
        # The customer's other key still streams.
        w = Watch("WatchMessages with the other key", c.api.WatchMessages, O.WatchMessagesRequest())
        try:
            w.wait_count(2, 5)
        finally:
            w.cancel()
    finally:
        for w in watches:
            w.cancel()


def t_money_rate_limit(ctx: Ctx):
    """A customer with 3 money requests a minute: the 4th money RPC is refused, reads are not."""
    c = ctx.customer("limited", credit=1000, rate_limits=(10_000, 3))
    for i in range(3):
        check_error(f"money request #{i + 1}: CreateActivation(wa, GB), not offered", c.api.CreateActivation,
                    c.create_req(country="GB"), FAILED_PRECONDITION, NOT_OFFERED)
    check_error("money request #4: CreateActivation(wa, US)", c.api.CreateActivation, c.create_req(),
                RESOURCE_EXHAUSTED, RATE_LIMITED)
    check_error("money request #5: CancelActivation", c.api.CancelActivation,
                O.CancelActivationRequest(id=str(uuid.uuid4())), RESOURCE_EXHAUSTED, RATE_LIMITED)
    ok("ListActivations (not a money request) after the money quota is spent", c.api.ListActivations,
       O.ListActivationsRequest())
    c.check_balance(1000, "after the rate-limited purchase", settle=0)


def t_expiry(ctx: Ctx):
    """tg activations (1 min): without an SMS EXPIRED and refunded by the worker; with one FINISHED, kept."""
    check(ctx.expiry is not None, "expiry_arm did not run")
    e, quiet, answered, m, w = ctx.expiry
    try:
        due = max(secs(quiet.expire_time), secs(answered.expire_time))
        left = due - time.time()
        if left > 0:
            print(f"     (waiting {left:.1f}s for the tg activations to reach their expire_time)", flush=True)
            time.sleep(left)
        limit = WORKER_INTERVAL * 10 + 3.0

        def ended(aid):
            def fn():
                x = e.get(aid)
                return x if x.status in TERMINAL else None
            return fn

        q, waited = wait_for("the tg activation without an SMS ends", ended(quiet.id), limit)
        note(f"the activation without an SMS ended {waited + max(0.0, time.time() - due - waited):.2f}s after its "
             f"expire_time (worker interval {WORKER_INTERVAL}s)")
        if q.status == EXPIRED and q.refunded.minor_units != TG_US:
            # The status is committed before the wallet's refund; `refunded` follows once it is done.
            seen = q.refunded.minor_units
            q, settled = wait_for("refunded of the EXPIRED activation reaches its price",
                                  lambda: (lambda x: x if x.refunded.minor_units == TG_US else None)(e.get(quiet.id)),
                                  3.0, step=0.005)
            note(f"GetActivation showed the activation EXPIRED with refunded {seen} for another "
                 f"{settled * 1000:.0f} ms, until its refund settled")
        check_eq((status_name(q.status), q.refunded), ("ACTIVATION_STATUS_EXPIRED", money(TG_US, "USD")),
                 "the expired activation without an SMS (status, refunded)")
        check(q.HasField("end_time") and secs(q.end_time) >= secs(q.expire_time) - 0.001,
              f"end_time {show(q.end_time)} of the expired activation is before its expire_time {show(q.expire_time)}")
        r, _ = wait_for("the tg activation with an SMS ends", ended(answered.id), limit)
        check_eq((status_name(r.status), r.refunded.minor_units, r.code, [x.id for x in r.messages]),
                 ("ACTIVATION_STATUS_FINISHED", 0, "55555", [m.id]),
                 "the expired activation with an SMS (status, refunded, code, messages)")
        e.check_balance(1000 - TG_US, "after the expiries (the one without an SMS refunded, the other kept)")
        end = w.wait_end(3)
        check(end is not None, f"the WatchActivation stream of the expired activation did not end; received "
                               f"{show(w.got())}")
        check_eq(end[0], "OK", f"how the stream of the expired activation ended ({end[1]!r})")
        check_eq(names(statuses_of(w.got()))[-2:], names([WAITING, EXPIRED]),
                 "the last statuses on the expired activation's stream")
        last = w.got()[-1].status_changed
        note(f"the stream's EXPIRED event carried refunded {last.refunded.minor_units} (price {TG_US})")
        check_error("CancelActivation of the EXPIRED activation", e.api.CancelActivation,
                    O.CancelActivationRequest(id=quiet.id), FAILED_PRECONDITION, ACTIVATION_ENDED)
        check_error("DeliverMessage to the EXPIRED activation", ctx.internal.DeliverMessage,
                    ctx.deliver_req(quiet.id, "Telegram code: 12345"), FAILED_PRECONDITION, ACTIVATION_ENDED)
        time.sleep(WORKER_INTERVAL * 3)
        e.check_balance(1000 - TG_US, "a few worker rounds later (refunded once)", settle=0)
    finally:
        w.cancel()


def snapshot(ctx: Ctx) -> list:
    out = []
    for cust, aid in ctx.kept:
        a = cust.get(aid, f"{cust.tag}: GetActivation({aid}) for the snapshot")
        out.append((cust, a))
    return out


def t_sigterm_with_stream(ctx: Ctx):
    """SIGTERM while WatchMessages is open: the stream ends, the process exits 0 within the grace."""
    check(ctx.resume is not None, "watch_messages_resume did not run")
    c, a, msgs, cursors = ctx.resume
    ctx.snapshot = snapshot(ctx)
    srv = ctx.dep.orders
    w = Watch("WatchMessages open across SIGTERM", c.api.WatchMessages, O.WatchMessagesRequest(),
              timeout=GRACE + 30)
    w.wait_count(len(msgs), 5)
    time.sleep(0.2)
    t0 = time.monotonic()
    ctx.stopped = True
    srv.proc.send_signal(15)
    try:
        rc = srv.proc.wait(timeout=GRACE + 1.0)
    except subprocess.TimeoutExpired:
        rc = None
    exited = time.monotonic() - t0
    end = w.wait_end(5)
    if rc is None:
        srv.kill()
    srv.close_channel()
    w.cancel()
    check(rc is not None, f"{srv.name} still running {GRACE + 1.0:.1f}s after SIGTERM with a stream open (grace "
                          f"{GRACE}s; killed it); log:\n{tail(srv.log_path, 25)}")
    check_eq(rc, 0, f"{srv.name}: exit code after SIGTERM ({exited:.2f}s)")
    check_workers_stopped(srv)
    check(end is not None, f"the WatchMessages stream did not end although {srv.name} exited")
    stream_end = w.end[0] - t0
    note(f"after SIGTERM: the stream ended {stream_end:.2f}s later ({end[0]} {end[1]!r}), the process exited 0 "
         f"{exited:.2f}s later (grace {GRACE}s)")
    check_eq([e.message.id for e in w.got()], [x.id for x in msgs], "messages the stream got before the shutdown")


def t_restart_keeps_data(ctx: Ctx):
    """Restarted on the same database: every activation and message as before; cursors still good."""
    check(ctx.snapshot is not None, "sigterm_with_stream did not run")
    srv = ctx.dep.orders
    if not srv.running():
        srv.start()
    ctx.stopped = False
    for cust, before in ctx.snapshot:
        after = cust.get(before.id, f"{cust.tag}: GetActivation({before.id}) after the restart")
        check_eq(after, before, f"{cust.tag}'s activation {before.id} after the restart")
    c, a, msgs, cursors = ctx.resume
    w = Watch("WatchMessages from the start after the restart", c.api.WatchMessages, O.WatchMessagesRequest())
    try:
        w.wait_count(len(msgs), 5)
        time.sleep(0.3)
    finally:
        w.cancel()
    check_eq([(e.cursor, e.message.id) for e in w.got()], list(zip(cursors, [x.id for x in msgs])),
             "WatchMessages from the start after the restart (cursor, message id)")
    w2 = Watch("WatchMessages after the 2nd cursor, after the restart", c.api.WatchMessages,
               O.WatchMessagesRequest(after=cursors[1]))
    try:
        w2.wait_count(2, 5)
        time.sleep(0.3)
    finally:
        w2.cancel()
    check_eq([e.message.id for e in w2.got()], [x.id for x in msgs[2:]],
             "WatchMessages after the 2nd cursor issued before the restart")
    # It still buys, delivers and refunds.
    n = ctx.customer("after restart", credit=500)
    b = n.buy()
    m = n.deliver(b, "Your WhatsApp code is 777-888")
    check_eq(m.code, "777888", "code of a message delivered after the restart")
    x = ok("CompleteActivation after the restart", n.api.CompleteActivation, O.CompleteActivationRequest(id=b.id))
    check_eq(status_name(x.status), "ACTIVATION_STATUS_FINISHED", "status after CompleteActivation")
    n.check_balance(500 - WA_US, "after a purchase completed after the restart")


def t_hung_wallet(ctx: Ctx):
    """A second orders, on a database of its own, whose wallet accepts connections and never answers
    (a listening socket nobody reads) with NUMHUB_CALL_TIMEOUT=1s: CreateActivation fails UNAVAILABLE
    (TEMPORARILY_UNAVAILABLE) naming the wallet within its deadline, and nothing is charged."""
    dep = ctx.dep
    c = ctx.customer("hung-wallet", credit=100)
    hole = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    hole.bind(("127.0.0.1", 0))
    hole.listen(64)  # the kernel completes each handshake; nobody ever reads
    (port,) = free_ports(1)
    data = os.path.join(dep.workdir, "hung-wallet-orders")
    os.makedirs(data, exist_ok=True)
    env = {k: v for k, v in dep.orders.env.items() if k != "NUMHUB_DATABASE_URL"}
    env.update(NUMHUB_LISTEN_ADDR=f"127.0.0.1:{port}", NUMHUB_METRICS_ADDR="off", NUMHUB_DATA_DIR=data,
               NUMHUB_WALLET_ADDR=f"http://127.0.0.1:{hole.getsockname()[1]}", NUMHUB_CALL_TIMEOUT="1s")
    proc = Proc(ARGS.orders_binary, f"{dep.name}-orders-hung-wallet", dep.workdir, env, f"127.0.0.1:{port}")
    try:
        proc.start()
        api = BoundStub(proc, orders_pb2_grpc.OrdersServiceStub, ORDERS, bearer(c.key))
        t0 = time.monotonic()
        d = check_error("CreateActivation while the wallet never answers", api.CreateActivation, c.create_req(),
                        UNAVAILABLE, "TEMPORARILY_UNAVAILABLE")
        took = time.monotonic() - t0
        check(took < 4.0, f"CreateActivation took {took:.2f}s with NUMHUB_CALL_TIMEOUT=1s")
        check("wallet" in d.message, f"the error names the wallet: {d.message!r}")
        c.check_balance(100, "after a purchase whose wallet never answered")
    finally:
        proc.kill()
        hole.close()


def t_logs_clean(ctx: Ctx):
    note(ctx.dep.check_logs_clean())


RPC_SUITE = [
    ("health", t_health),
    ("reflection_v1_v1alpha", t_reflection),
    ("reflection_grpcurl", t_reflection_grpcurl),
    ("expiry_arm", t_expiry_arm),
    ("buy_watch_complete", t_buy_watch_complete),
    ("cancel_refund", t_cancel_refund),
    ("another_sms_skip_reuse", t_another_sms_skip_reuse),
    ("delivery_and_access", t_delivery_and_access),
    ("idempotency_and_balance", t_idempotency),
    ("refusals", t_refusals),
    ("open_activation_limit", t_open_limit),
    ("list_activations", t_list),
    ("tokens_bound_to_their_request", t_tokens_bound),
    ("watch_messages_resume", t_watch_messages_resume),
    ("revoked_key_ends_streams", t_revoked_key_ends_streams),
    ("money_rate_limit", t_money_rate_limit),
    ("expiry", t_expiry),
    ("sigterm_with_stream", t_sigterm_with_stream),
    ("restart_keeps_data", t_restart_keeps_data),
    ("hung_wallet", t_hung_wallet),
    ("no_secrets_in_logs", t_logs_clean),
]
# Checks that need another check to have run first.
NEEDS = {"expiry": "expiry_arm", "sigterm_with_stream": "watch_messages_resume",
         "restart_keeps_data": "sigterm_with_stream"}


# ---------------------------------------------------------------------------
# scenarios
# ---------------------------------------------------------------------------


def suite_names(scenario: str) -> list:
    return [f"{scenario}/{n}" for n, _ in RPC_SUITE]


def run_server_scenario(runner: Runner, scenario: str, dep: Deployment):
    ctx = Ctx(scenario, dep)
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
            # sigterm_with_stream stops orders on purpose; restart_keeps_data starts it again.
            dead = [p for p in dep.processes() if not p.running() and not (p is dep.orders and ctx.stopped)]
            if dead:
                gone = [f"{p.name} (exit code {p.proc.returncode})" for p in dead]
                runner.fail(f"{scenario}/servers_alive", f"{', '.join(gone)} died during {name}")
                runner.not_run([f"{scenario}/{n}" for n, _ in RPC_SUITE[i + 1:]], "a server died")
                return
    finally:
        if ctx.expiry is not None:
            ctx.expiry[4].cancel()
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
        dbs = FreshDatabases("accounts", "wallet", "catalog", "orders", "rentals").__enter__()
    except Failure as e:
        runner.fail(f"{scenario}/create_database", str(e))
        return
    try:
        wd = runner.workdir("orders-postgres")
        url = dbs.url("orders")

        def migrate():
            for attempt in (1, 2):
                r = run_binary(ARGS.orders_binary, ["migrate"], wd, {"NUMHUB_DATABASE_URL": url})
                check_eq(r.returncode, 0, f"exit code of `numhub-orders migrate` (run {attempt}) against {url} "
                                          f"(stderr: {r.stderr.decode(errors='replace')[-2000:]!r})")
            p = psql(url, "SELECT count(*) FROM information_schema.tables "
                          "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')")
            check(p.returncode == 0 and int(p.stdout.strip() or 0) > 0,
                  f"`migrate` left no tables in {url}: {p.stdout.strip()} {p.stderr.strip()}")

        if not runner.run(f"{scenario}/migrate", migrate):
            runner.not_run(suite_names(scenario), "migrate failed")
            return
        dep = Deployment("orders-pg", wd, catalog=True, orders=True, accounts_db=dbs.url("accounts"),
                         wallet_db=dbs.url("wallet"), catalog_db=dbs.url("catalog"), orders_db=url,
                         rentals_db=dbs.url("rentals"), orders_env=ORDERS_ENV)
        run_server_scenario(runner, scenario, dep)
    finally:
        dbs.__exit__(None, None, None)


def scenario_sqlite(runner: Runner):
    scenario = "sqlite"
    if not any(runner.wanted(n) for n in [f"{scenario}/start"] + suite_names(scenario)):
        return
    wd = runner.workdir("orders-sqlite")
    dep = Deployment("orders-sqlite", wd, catalog=True, orders=True, orders_env=ORDERS_ENV)
    run_server_scenario(runner, scenario, dep)


def main() -> int:
    runner = Runner("test_orders.py")
    binaries = (ARGS.accounts_binary, ARGS.wallet_binary, ARGS.catalog_binary, ARGS.rentals_binary,
                ARGS.orders_binary)
    if runner.binaries_ok(binaries):
        print(f"numhub orders e2e: binaries {' '.join(binaries)}", flush=True)
        scenario_postgres(runner)
        scenario_sqlite(runner)
    return runner.finish()


if __name__ == "__main__":
    sys.exit(main())
