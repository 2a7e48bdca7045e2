#!/usr/bin/env python3
"""End-to-end tests of numhub's inbound SMS loop, judged as an outside client.

The client is generated from the protos in proto/ with Python's gRPC toolchain
(see run.sh); nothing here links against the Rust code. Every check goes
through real processes:

  * numhubd (SQLite) - `numhubd` alone on a fresh temporary data directory,
    configured only with NUMHUB_LISTEN_ADDR, NUMHUB_METRICS_ADDR=off,
    NUMHUB_GATEWAY_HTTP_ADDR,
    NUMHUB_DATA_DIR, NUMHUB_SERVICE_CREDENTIAL and short simulator delays
    (NUMHUB_SIMULATOR_MIN_DELAY / _MAX_DELAY). The demo customer's key is
    read from its standard error; the `numhub` CLI buys a WhatsApp number and
    waits for the code the simulated SIM bank sends; a WatchActivation stream
    sees that message; CompleteActivation; the balance drops by exactly the
    price. SIGTERM and a restart on the same data directory print no new key
    and keep everything.

  * postgres - `numhub-accounts`, `numhub-wallet`, `numhub-catalog`,
    `numhub-rentals`, `numhub-orders` and `numhub-inbound` as six processes,
    each on a fresh database numhub_e2e_<random>_<service>, sharing a service
    credential (the SMS of rented numbers, and rentals itself, are
    test_rentals.py's).
    The operator (admin key) imports US numbers (and one GB number nobody can
    buy: GB has no price) and prices wa and tg in the US. SMS come in through
    InboundInternalService.Deliver with the service credential, as a SIM bank
    would send them, or through the Twilio webhook with a signature computed
    here (hmac, hashlib, base64). Orders runs with tg=1m and a 200 ms worker,
    so a tg activation expires during the suite ("expiry_arm" buys it first,
    "expiry_refund" judges it after the other checks). Inbound runs with
    NUMHUB_INBOUND_ROUTE_INTERVAL=100ms and NUMHUB_INBOUND_MAX_BACKOFF=2s, so
    a message held back while orders is down is routed within seconds of its
    return, and NUMHUB_INBOUND_WEBHOOK_BODY_TIMEOUT=2s, so a webhook client
    that never sends its body is cut off within the suite. Skipped loudly when PostgreSQL is unreachable, unless CI=true,
    where it is mandatory.

Inbound has no read RPC for one message: a message's state (PENDING, ROUTED,
UNROUTED) is read by delivering the same SMS again, which the contract answers
with the stored message and `duplicate` set.

Usage: test_inbound.py [--accounts-binary PATH] [--wallet-binary PATH]
                       [--catalog-binary PATH] [--orders-binary PATH]
                       [--inbound-binary PATH] [--rentals-binary PATH]
                       [--numhubd-binary PATH]
                       [--cli-binary PATH] [--gen target/e2e-gen]
                       [-k SUBSTRING] [--keep]
The last line printed is always "N passed, M failed"; the exit code is 0 only
when nothing failed.
"""

from __future__ import annotations

import base64
import concurrent.futures
import hashlib
import hmac
import http.client
import os
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import xml.etree.ElementTree as ET


from e2e_common import (  # noqa: E402
    Watch, secs, ts, wait_for,
    ARGS, FAILED_PRECONDITION, INBOUND_SERVICES, KEY_RE, MISSING_CREDENTIAL, MISSING_SCOPE, NOT_FOUND,
    PERMISSION_DENIED, READ, SERVICE_CREDENTIAL_REQUIRED, SHUTDOWN_LIMIT, UNAUTHENTICATED, WRITE, BoundStub, C,
    Deployment, Failure, FreshDatabases, I, O, Proc, Runner, W, check, check_error,
    check_eq, check_health, check_key_shape, check_reflection, check_uuid7, deviation, dump_logs, free_ports, money,
    note, ok, outcome, postgres_unreachable, psql, read_text, rid, run_binary, service_credential, show, tail,
)
from numhub.catalog.v1 import catalog_pb2_grpc  # noqa: E402
from numhub.inbound.v1 import inbound_pb2_grpc  # noqa: E402
from numhub.orders.v1 import orders_pb2_grpc  # noqa: E402
from numhub.wallet.v1 import wallet_pb2_grpc  # noqa: E402

# Quotas of the test accounts: they buy and read a lot.
ROOMY = (100_000, 100_000)

# Orders' configuration in the postgres scenario.
EXPIRING_SERVICE = "tg"
EXPIRING_LIFETIME = 60.0
WORKER_INTERVAL = 0.2
ORDERS_ENV = {
    "NUMHUB_ORDERS_SERVICE_LIFETIMES": f"{EXPIRING_SERVICE}=1m",
    "NUMHUB_ORDERS_WORKER_INTERVAL": f"{int(WORKER_INTERVAL * 1000)}ms",
}
# Inbound's.
ROUTE_INTERVAL = 0.1
MAX_BACKOFF = 2.0
PUBLIC_URL = "https://sms.e2e.numhub.test"
# The webhook's timeouts (short, so a slow client is cut off within the suite).
WEBHOOK_BODY_TIMEOUT = 2.0
TWILIO_PATH = "/webhooks/twilio/sms"

# What the operator sells in the postgres scenario.
WA_US, TG_US = 150, 90
US_NUMBERS = [f"+1202555{i:04d}" for i in range(3000, 3030)]
# In the inventory, but in a country without prices: nobody can lease it.
IDLE_NUMBER = "+447700900555"
# Not in the inventory at all.
UNKNOWN_NUMBER = "+12025559999"
UPSTREAM = "simbank-e2e"

# How soon a routed SMS must reach an open stream after Deliver answered
# ("within moments"; a few seconds here, for slow CI machines).
ROUTE_LIMIT = 5.0
# How soon a message held back while a service was down must be routed once
# it is back: the longest backoff (±20%), a routing interval, and slack.
RECOVERY_LIMIT = MAX_BACKOFF * 1.2 + ROUTE_INTERVAL + 3.0

# numhubd.
DEMO_BALANCE = 5_000  # "USD 50.00", as the README and numhubd's banner say
CLI_LIMIT = 20.0
SIM_MIN_DELAY, SIM_MAX_DELAY = "1s", "2s"
# A demo number (+44770090 + four digits) in the UK, where the test buys nothing.
NUMHUBD_IDLE_NUMBER = "+447700900042"

CREATING, WAITING, RECEIVED, FINISHED = (O.ACTIVATION_STATUS_CREATING, O.ACTIVATION_STATUS_WAITING,
                                         O.ACTIVATION_STATUS_RECEIVED, O.ACTIVATION_STATUS_FINISHED)
CANCELLED, EXPIRED = O.ACTIVATION_STATUS_CANCELLED, O.ACTIVATION_STATUS_EXPIRED
TERMINAL = {FINISHED, CANCELLED, EXPIRED, O.ACTIVATION_STATUS_SKIPPED, O.ACTIVATION_STATUS_FAILED}
PENDING, ROUTED, UNROUTED = I.ROUTE_STATE_PENDING, I.ROUTE_STATE_ROUTED, I.ROUTE_STATE_UNROUTED
NO_HOLDER, HOLDER_ENDED = "NO_HOLDER", "HOLDER_ENDED"

IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
RESOURCE_NOT_FOUND = "RESOURCE_NOT_FOUND"


# ---------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------


def status_name(value) -> str:
    try:
        return O.ActivationStatus.Name(value)
    except ValueError:
        return str(value)


def state_name(value) -> str:
    try:
        return I.RouteState.Name(value)
    except ValueError:
        return str(value)


def names(statuses) -> list:
    return [status_name(s) for s in statuses]


def statuses_of(events) -> list:
    return [e.status_changed.status for e in events if e.WhichOneof("event") == "status_changed"]


def messages_of(events) -> list:
    return [e.message for e in events if e.WhichOneof("event") == "message"]


def replay_messages(api, activation_id: str, want: int, what: str) -> list:
    """WatchActivation from the start of an open activation: the messages it
    replays (waiting for `want` of them, then a little more for extras)."""
    w = Watch(what, api.WatchActivation, O.WatchActivationRequest(id=activation_id), timeout=30)
    try:
        w.wait(f"{want} message(s)", lambda items: len(messages_of(items)) >= want, 5)
        time.sleep(0.4)
    finally:
        w.cancel()
    return messages_of(w.got())


def sigterm(proc: Proc, what: str, limit: float = SHUTDOWN_LIMIT + 1.0) -> float:
    """SIGTERM; the process exits 0 within `limit` (killed otherwise)."""
    t0 = time.monotonic()
    proc.close_channel()
    proc.proc.send_signal(15)
    try:
        rc = proc.proc.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        rc = None
        proc.kill()
    took = time.monotonic() - t0
    check(rc is not None, f"{what}: {proc.name} still running {limit:.1f}s after SIGTERM (killed it); log:\n"
                          f"{tail(proc.err_path, 25)}")
    check_eq(rc, 0, f"{what}: {proc.name}'s exit code after SIGTERM ({took:.2f}s); log:\n{tail(proc.err_path, 15)}")
    return took


# ---------------------------------------------------------------------------
# Twilio's signature, computed here from Twilio's published algorithm
# ---------------------------------------------------------------------------


def twilio_signature(token: str, url: str, params: dict) -> str:
    """base64(HMAC-SHA1(token, url + name1 + value1 + name2 + value2 ...)),
    the form fields sorted by name."""
    data = url + "".join(k + params[k] for k in sorted(params))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


# Twilio's own example (its request-validation documentation): the function
# above must reproduce it, or every webhook verdict below means nothing.
_TWILIO_EXAMPLE = ("12345", "https://mycompany.com/myapp.php?foo=1&bar=2",
                   {"CallSid": "CA1234567890ABCDE", "Caller": "+14158675310", "Digits": "1234",
                    "From": "+14158675310", "To": "+18005551212"}, "GvWf1cFY/Q7PnoempGyD5oXAezc=")


def post_form(url: str, params: dict, signature=None, timeout: float = 10.0):
    """POSTs a urlencoded form; returns (HTTP status, content type, body)."""
    data = urllib.parse.urlencode(params).encode()
    req = urllib.request.Request(url, data=data, method="POST")
    req.add_header("Content-Type", "application/x-www-form-urlencoded")
    if signature is not None:
        req.add_header("X-Twilio-Signature", signature)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read().decode("utf-8", "replace")


def post_raw(url: str, params: dict, content_type, signature=None, timeout: float = 10.0):
    """POSTs a urlencoded body with exactly the Content-Type given (None: no
    Content-Type header at all, which urllib would add); (status, body)."""
    import http.client
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        conn.putrequest("POST", u.path + (f"?{u.query}" if u.query else ""))
        data = urllib.parse.urlencode(params).encode()
        conn.putheader("Content-Length", str(len(data)))
        if content_type is not None:
            conn.putheader("Content-Type", content_type)
        if signature is not None:
            conn.putheader("X-Twilio-Signature", signature)
        conn.endheaders(data)
        r = conn.getresponse()
        return r.status, r.read().decode("utf-8", "replace")
    finally:
        conn.close()


def twilio_form(sid: str, to: str, body: str, sender: str = "+14155550111") -> dict:
    """An inbound SMS as Twilio posts it (the fields of its webhook request)."""
    return {
        "ToCountry": "US", "ToState": "DC", "SmsMessageSid": sid, "NumMedia": "0", "ToCity": "WASHINGTON",
        "FromZip": "94105", "SmsSid": sid, "FromState": "CA", "SmsStatus": "received", "FromCity": "SAN FRANCISCO",
        "Body": body, "FromCountry": "US", "To": to, "ToZip": "20001", "NumSegments": "1", "MessageSid": sid,
        "AccountSid": "AC" + "0" * 32, "From": sender, "ApiVersion": "2010-04-01",
    }


def new_sid() -> str:
    return "SM" + secrets.token_hex(16)


# ---------------------------------------------------------------------------
# the postgres scenario: one deployment, its customers, what outlives a check
# ---------------------------------------------------------------------------


class Customer:
    """An account made by the operator, with a read + write key and a wallet."""

    def __init__(self, ctx: "Ctx", tag: str, credit: int = 0):
        dep = ctx.dep
        self.ctx = ctx
        self.tag = tag
        self.id = dep.create_account(f"e2e inbound {tag}", rate_limits=ROOMY).id
        self.key = dep.create_key(self.id, scopes=(READ, WRITE), name=f"inbound {tag}").secret
        self.api = dep.client(self.key).orders
        if credit:
            ok(f"admin Credit({tag}, {credit})", dep.admin().wallet_admin.Credit,
               W.CreditRequest(account_id=self.id, amount=money(credit), request_id=rid(), reason="e2e top-up"))
        ctx.customers.append(self)

    def balance(self) -> int:
        b = ok(f"admin GetAccountBalance({self.tag})", self.ctx.dep.admin().wallet_admin.GetAccountBalance,
               W.GetAccountBalanceRequest(account_id=self.id))
        return b.available.minor_units

    def check_balance(self, want: int, what: str, settle: float = 3.0):
        got = self.balance()
        t0 = time.monotonic()
        while got != want and time.monotonic() - t0 < settle:
            time.sleep(0.05)
            got = self.balance()
        check_eq(got, want, f"{self.tag}'s balance {what}")

    def buy(self, service: str = "wa", price: int = WA_US) -> O.Activation:
        req = O.CreateActivationRequest(service_code=service, country_code="US", request_id=rid())
        what = f"{self.tag}: CreateActivation({service}, US)"
        a = ok(what, self.api.CreateActivation, req)
        check_uuid7(a.id, f"{what}: Activation.id")
        check_eq((status_name(a.status), a.service_code, a.price), ("ACTIVATION_STATUS_WAITING", service,
                                                                    money(price, "USD")),
                 f"{what}: (status, service_code, price)")
        check(a.phone_number in US_NUMBERS, f"{what}: phone_number {a.phone_number!r} is not one of the imported US "
                                            f"numbers")
        self.ctx.kept.append((self, a.id))
        return a

    def get(self, activation_id: str, what: str = "") -> O.Activation:
        return ok(what or f"{self.tag}: GetActivation({activation_id})", self.api.GetActivation,
                  O.GetActivationRequest(id=activation_id))

    def complete(self, a: O.Activation) -> O.Activation:
        x = ok(f"{self.tag}: CompleteActivation({a.id})", self.api.CompleteActivation,
               O.CompleteActivationRequest(id=a.id))
        check_eq(status_name(x.status), "ACTIVATION_STATUS_FINISHED", f"{self.tag}: status after CompleteActivation")
        return x


class Ctx:
    def __init__(self, scenario: str, dep: Deployment, token: str, webhook_port: int):
        self.scenario = scenario
        self.dep = dep
        self.token = token
        self.webhook_port = webhook_port
        self.customers: list = []
        self.kept: list = []  # (customer, activation id)
        self.expiry = None  # what expiry_arm bought
        self.routed = None  # an InboundMessage routed by deliver_stream_complete
        self.unrouted_bodies: list = []  # bodies of SMS that must reach no customer
        self.stopped: set = set()  # processes stopped on purpose, not yet restarted

    @property
    def intake(self):
        return self.dep.internal().inbound_internal

    @property
    def admin_inbound(self):
        return self.dep.admin().inbound_admin

    def setup(self):
        admin = self.dep.admin().catalog_admin
        rows = [C.NumberImport(phone_number=p, country_code="US", number_type=C.NUMBER_TYPE_VOIP, source="e2e")
                for p in US_NUMBERS]
        rows.append(C.NumberImport(phone_number=IDLE_NUMBER, country_code="GB", number_type=C.NUMBER_TYPE_VOIP,
                                   source="e2e"))
        r = ok(f"ImportNumbers of {len(rows)} numbers", admin.ImportNumbers, C.ImportNumbersRequest(numbers=rows))
        check_eq((r.imported_count, list(r.rejected)), (len(rows), []), "ImportNumbers (imported_count, rejected)")
        for service, units in (("wa", WA_US), (EXPIRING_SERVICE, TG_US)):
            ok(f"SetActivationPrice({service}, US, {units})", admin.SetActivationPrice,
               C.SetActivationPriceRequest(service_code=service, country_code="US", price=money(units)))

    def customer(self, tag: str, credit: int = 0) -> Customer:
        return Customer(self, tag, credit)

    def deliver_req(self, to: str, body: str, sender: str = "WhatsApp", upstream: str = UPSTREAM, uid=None,
                    at=None) -> I.DeliverRequest:
        return I.DeliverRequest(upstream=upstream, upstream_message_id=uid or rid(), to=to, sender=sender, body=body,
                                receive_time=ts(at if at is not None else time.time()))

    def deliver(self, req: I.DeliverRequest, what: str = "", e164: str = "") -> I.InboundMessage:
        """A first Deliver of an SMS: stored (not a duplicate), as sent."""
        what = what or f"Deliver(to {req.to}, {req.body!r})"
        t0 = time.time()
        r = ok(what, self.intake.Deliver, req)
        t1 = time.time()
        m = r.message
        check_eq(r.duplicate, False, f"{what}: duplicate on a first delivery")
        check_uuid7(m.id, f"{what}: InboundMessage.id")
        check_eq((m.upstream, m.upstream_message_id, m.to, m.sender, m.body, m.receive_time),
                 (req.upstream, req.upstream_message_id, e164 or req.to, req.sender, req.body, req.receive_time),
                 f"{what}: the stored message (upstream, upstream_message_id, to, sender, body, receive_time)")
        check(t0 - 2 <= secs(m.store_time) <= t1 + 2,
              f"{what}: store_time {secs(m.store_time):.3f} is not between {t0:.3f} and {t1:.3f}")
        check(m.state in (PENDING, ROUTED, UNROUTED), f"{what}: state {state_name(m.state)}")
        return m

    def stored(self, req: I.DeliverRequest, what: str = "") -> I.InboundMessage:
        """The stored message, read by delivering the same SMS again (the
        contract answers a repeat with the stored message, `duplicate` set)."""
        r = ok(what or f"Deliver again of {req.upstream}/{req.upstream_message_id} (to read its state)",
               self.intake.Deliver, req)
        check_eq(r.duplicate, True, f"{what or 'a repeated Deliver'}: duplicate")
        return r.message

    def wait_state(self, req: I.DeliverRequest, state, limit: float, what: str) -> tuple:
        """Waits until the stored message is in `state`; returns (message, seconds)."""
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
                          f"(reason {m.unrouted_reason if m else ''!r}, attempts {m.attempts if m else None})")

    def webhook_url(self, query: str = "") -> str:
        return f"http://127.0.0.1:{self.webhook_port}{TWILIO_PATH}{query}"


# ---------------------------------------------------------------------------
# the postgres checks
# ---------------------------------------------------------------------------


def t_inbound_health(ctx: Ctx):
    """Health, reflection, and who may call inbound's RPCs."""
    check_health(ctx.dep.inbound, INBOUND_SERVICES)
    check_reflection(ctx.dep.inbound, INBOUND_SERVICES)
    c = ctx.customer("outsider")
    dep = ctx.dep
    req = ctx.deliver_req(IDLE_NUMBER, "Your WhatsApp code is 135-790")
    for who, client in (("a customer's API key", dep.client(c.key)), ("the admin key", dep.admin())):
        check_error(f"Deliver with {who}", client.inbound_internal.Deliver, req, PERMISSION_DENIED,
                    SERVICE_CREDENTIAL_REQUIRED)
    check_error("Deliver without a credential", dep.anonymous().inbound_internal.Deliver, req, UNAUTHENTICATED,
                MISSING_CREDENTIAL)
    check_error("ListUnrouted with a customer's (read + write) key", dep.client(c.key).inbound_admin.ListUnrouted,
                I.ListUnroutedRequest(), PERMISSION_DENIED, MISSING_SCOPE)
    check_error("ListUnrouted without a credential", dep.anonymous().inbound_admin.ListUnrouted,
                I.ListUnroutedRequest(), UNAUTHENTICATED, MISSING_CREDENTIAL)
    check_error("RouteAgain with a customer's key", dep.client(c.key).inbound_admin.RouteAgain,
                I.RouteAgainRequest(id=str(uuid.uuid4())), PERMISSION_DENIED, MISSING_SCOPE)
    # The refused Deliver stored nothing: the same SMS with the credential is new.
    ctx.deliver(req, "Deliver with the service credential of the SMS refused with other credentials")
    ctx.unrouted_bodies.append(req.body)


def t_expiry_arm(ctx: Ctx):
    """Buys a tg activation (1 min lifetime) that no SMS will reach; "expiry_refund" judges it."""
    e = ctx.customer("expiry", credit=1000)
    a = e.buy(EXPIRING_SERVICE, TG_US)
    check(abs(secs(a.expire_time) - secs(a.create_time) - EXPIRING_LIFETIME) < 1.0,
          f"expire_time - create_time = {secs(a.expire_time) - secs(a.create_time):.3f}s, expected the tg lifetime "
          f"{EXPIRING_LIFETIME:.0f}s (NUMHUB_ORDERS_SERVICE_LIFETIMES=tg=1m)")
    e.check_balance(1000 - TG_US, "after buying a tg activation")
    w = Watch("WatchActivation of the tg activation that will expire", e.api.WatchActivation,
              O.WatchActivationRequest(id=a.id), timeout=EXPIRING_LIFETIME + 180)
    w.wait("the WAITING status", lambda items: WAITING in statuses_of(items), 5)
    ctx.expiry = (e, a, w)


def t_deliver_stream_complete(ctx: Ctx):
    """buy -> Deliver to the number -> routed -> the open stream gets the message with its code -> complete."""
    c = ctx.customer("buyer", credit=1000)
    a = c.buy()
    w = Watch("WatchActivation of the new activation", c.api.WatchActivation, O.WatchActivationRequest(id=a.id))
    try:
        w.wait("the WAITING status", lambda items: WAITING in statuses_of(items), 5)
        time.sleep(0.2)
        before = len(w.got())
        body = "Your WhatsApp code is 482-913. Don't share this code with anyone."
        req = ctx.deliver_req(a.phone_number, body)
        t0 = time.monotonic()
        m = ctx.deliver(req)
        w.wait("the message and the RECEIVED status",
               lambda items: messages_of(items[before:]) and RECEIVED in statuses_of(items[before:]), ROUTE_LIMIT)
        took = time.monotonic() - t0
        live = w.got()[before:]
        msgs = messages_of(live)
        check_eq([(x.activation_id, x.phone_number, x.sender, x.body, x.code, x.receive_time) for x in msgs],
                 [(a.id, a.phone_number, "WhatsApp", body, "482913", req.receive_time)],
                 "messages pushed on the stream (activation_id, phone_number, sender, body, code, receive_time)")
        received = [e.status_changed for e in live if e.WhichOneof("event") == "status_changed"]
        check_eq((status_name(received[0].status), received[0].code), ("ACTIVATION_STATUS_RECEIVED", "482913"),
                 "the stream's RECEIVED event (status, code)")
        note(f"Deliver -> routed -> the open WatchActivation stream: {took * 1000:.0f} ms")
        routed, _ = ctx.wait_state(req, ROUTED, ROUTE_LIMIT, "the delivered SMS")
        check_eq((routed.id, routed.holder_id, routed.unrouted_reason), (m.id, a.id, ""),
                 "the routed message (id, holder_id, unrouted_reason)")
        check(routed.attempts >= 1, f"attempts of a routed message: {routed.attempts}")
        ctx.routed = routed
        got = c.get(a.id)
        check_eq((status_name(got.status), got.code, [(x.body, x.code) for x in got.messages]),
                 ("ACTIVATION_STATUS_RECEIVED", "482913", [(body, "482913")]),
                 "GetActivation after the SMS (status, code, messages)")
        c.complete(a)
        end = w.wait_end(3)
        check(end is not None and end[0] == "OK",
              f"the stream did not end (OK) after CompleteActivation: end {end}, received {show(w.got())}")
        check_eq(names(statuses_of(w.got()))[-2:], names([RECEIVED, FINISHED]), "the stream's last statuses")
        check_eq(len(messages_of(w.got())), 1, "messages on the whole stream (once)")
    finally:
        w.cancel()
    c.check_balance(1000 - WA_US, "after the completed activation (the price kept)")


def t_to_digits_only(ctx: Ctx):
    """Deliver with `to` as digits alone (no "+"): stored in E.164 and routed to the holder."""
    c = ctx.customer("digits", credit=500)
    a = c.buy()
    req = ctx.deliver_req(a.phone_number.lstrip("+"), "Telegram code: 55821", sender="Telegram")
    ctx.deliver(req, f"Deliver to {req.to} (digits alone)", e164=a.phone_number)
    routed, _ = ctx.wait_state(req, ROUTED, ROUTE_LIMIT, "the SMS to the digits alone")
    check_eq(routed.holder_id, a.id, "holder_id of the SMS to the digits alone")
    got = c.get(a.id)
    check_eq([(x.phone_number, x.code) for x in got.messages], [(a.phone_number, "55821")],
             "the activation's messages (phone_number, code)")
    c.complete(a)


def t_cancel_refund(ctx: Ctx):
    """cancel -> CANCELLED, refunded in full, once; a later SMS to the number does not reach it."""
    c = ctx.customer("canceller", credit=500)
    a = c.buy()
    c.check_balance(500 - WA_US, "after CreateActivation")
    x = ok("CancelActivation", c.api.CancelActivation, O.CancelActivationRequest(id=a.id))
    check_eq((status_name(x.status), x.refunded), ("ACTIVATION_STATUS_CANCELLED", money(WA_US, "USD")),
             "CancelActivation (status, refunded)")
    c.check_balance(500, "after CancelActivation (the price refunded)")
    again = ok("CancelActivation again", c.api.CancelActivation, O.CancelActivationRequest(id=a.id))
    check_eq((status_name(again.status), again.refunded), (status_name(x.status), x.refunded),
             "CancelActivation of a CANCELLED activation (unchanged)")
    time.sleep(0.3)
    c.check_balance(500, "after the second CancelActivation (refunded once)", settle=0)
    req = ctx.deliver_req(a.phone_number, "Your WhatsApp code is 864-209")
    ctx.deliver(req, "Deliver to the cancelled activation's number, after the cancel")
    m, _ = ctx.wait_state(req, UNROUTED, ROUTE_LIMIT, "an SMS after the cancel")
    # NO_HOLDER when the number was released by the time the SMS came;
    # HOLDER_ENDED if the release trails the cancel's answer.
    check(m.unrouted_reason in (NO_HOLDER, HOLDER_ENDED) and not m.holder_id,
          f"the SMS that arrived after the cancel: expected UNROUTED with NO_HOLDER (or HOLDER_ENDED) and no "
          f"holder_id, got {show(m)}")
    note(f"an SMS right after the cancel: UNROUTED {m.unrouted_reason}")
    ctx.unrouted_bodies.append(req.body)
    got = c.get(a.id)
    check_eq((status_name(got.status), list(got.messages)), ("ACTIVATION_STATUS_CANCELLED", []),
             "the cancelled activation after the SMS (status, messages)")
    c.check_balance(500, "after the late SMS", settle=0)


def t_duplicates(ctx: Ctx):
    """The same (upstream, upstream_message_id) twice, and 10 times at once: one message at the activation."""
    c = ctx.customer("duplicates", credit=500)
    a = c.buy()
    uid = rid()
    req1 = ctx.deliver_req(a.phone_number, "Your WhatsApp code is 111-222", uid=uid)
    m1 = ctx.deliver(req1, "Deliver #1")
    r = ok("Deliver #1 again", ctx.intake.Deliver, req1)
    check_eq((r.duplicate, r.message.id, r.message.body, r.message.receive_time),
             (True, m1.id, req1.body, req1.receive_time), "the repeated Deliver (duplicate, id, body, receive_time)")

    # Ten gateways' retries of one SMS at once.
    req2 = ctx.deliver_req(a.phone_number, "Your WhatsApp code is 333-444")
    barrier = threading.Barrier(10)

    def one(_):
        barrier.wait(10)
        return outcome(ctx.intake.Deliver, req2)
    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        results = list(pool.map(one, range(10)))
    errors = [str(res) for kind, res in results if kind != "OK"]
    check(not errors, f"concurrent Deliver of one SMS x10: {len(errors)} failed: {errors[:3]}")
    firsts = [res for _, res in results if not res.duplicate]
    check_eq(len(firsts), 1, f"concurrent Deliver x10: answers with duplicate false (the rest true); duplicates "
                             f"{[res.duplicate for _, res in results]}")
    ids = {res.message.id for _, res in results}
    check_eq(len(ids), 1, "distinct message ids among the 10 concurrent answers")

    # The same upstream id from another gateway is another SMS.
    req3 = ctx.deliver_req(a.phone_number, "Your WhatsApp code is 555-666", upstream="simbank-other", uid=uid)
    m3 = ctx.deliver(req3, "Deliver with the upstream_message_id of #1 from another upstream")
    check(m3.id != m1.id, "another upstream's SMS with the same upstream_message_id got the same message id")
    # The same key with another text is refused.
    changed = ctx.deliver_req(a.phone_number, "Your WhatsApp code is 777-888", uid=uid)
    changed.receive_time.CopyFrom(req1.receive_time)
    check_error("Deliver reusing #1's upstream id with another body", ctx.intake.Deliver, changed,
                FAILED_PRECONDITION, IDEMPOTENCY_KEY_REUSED)

    for what, req in (("#1", req1), ("the concurrent one", req2), ("the other upstream's", req3)):
        routed, _ = ctx.wait_state(req, ROUTED, ROUTE_LIMIT, f"SMS {what}")
        check_eq(routed.holder_id, a.id, f"holder_id of SMS {what}")
    for req in (req1, req2):
        r = ok("Deliver again after routing", ctx.intake.Deliver, req)
        check_eq((r.duplicate, state_name(r.message.state)), (True, "ROUTE_STATE_ROUTED"),
                 "a repeat after routing (duplicate, state)")
    time.sleep(ROUTE_INTERVAL * 5)
    got = c.get(a.id)
    check_eq(sorted(x.body for x in got.messages), sorted([req1.body, req2.body, req3.body]),
             "the activation's messages: each distinct SMS once (13 Deliver calls of 3 SMS, 1 refused)")
    streamed = replay_messages(c.api, a.id, 3, "WatchActivation of the activation with the duplicates")
    check_eq(sorted(x.code for x in streamed), ["111222", "333444", "555666"],
             "messages WatchActivation replays (codes, each once)")
    c.complete(a)
    c.check_balance(500 - WA_US, "after the activation with duplicates (charged once)")


def t_unrouted(ctx: Ctx):
    """SMS nobody held (in the inventory, not in it) and one whose holder had ended: UNROUTED, kept, listed."""
    nobody = ctx.deliver_req(IDLE_NUMBER, "Your Telegram code is 246810", sender="Telegram")
    unknown = ctx.deliver_req(UNKNOWN_NUMBER, "Your Google verification code is 902-114", sender="Google")
    c = ctx.customer("ended", credit=500)
    a = c.buy()
    time.sleep(0.6)
    during = time.time()  # while the activation held the number
    time.sleep(0.6)
    x = ok("CancelActivation", c.api.CancelActivation, O.CancelActivationRequest(id=a.id))
    check_eq(status_name(x.status), "ACTIVATION_STATUS_CANCELLED", "status after CancelActivation")
    ended = ctx.deliver_req(a.phone_number, "Your WhatsApp code is 975-310", at=during)
    msgs = {}
    for what, req, reason in (("the SMS to a number nobody leased", nobody, NO_HOLDER),
                              ("the SMS to a number not in the inventory", unknown, NO_HOLDER),
                              ("the SMS that reached the number while the cancelled activation held it", ended,
                               HOLDER_ENDED)):
        ctx.deliver(req, f"Deliver of {what}")
        m, _ = ctx.wait_state(req, UNROUTED, ROUTE_LIMIT, what)
        check_eq((m.unrouted_reason, m.holder_id), (reason, ""), f"{what} (unrouted_reason, holder_id)")
        msgs[req.upstream_message_id] = m
        ctx.unrouted_bodies.append(req.body)
    got = c.get(a.id)
    check_eq((status_name(got.status), list(got.messages)), ("ACTIVATION_STATUS_CANCELLED", []),
             "the activation that had ended when its SMS was routed (status, messages)")
    wm = Watch("WatchMessages of the customer whose activation had ended", c.api.WatchMessages,
               O.WatchMessagesRequest(), timeout=10)
    time.sleep(0.5)
    wm.cancel()
    check_eq(wm.got(), [], "WatchMessages of the customer whose activation ended before its SMS was routed")

    # The operator's list: all three, newest first, in pages.
    listed = ok("ListUnrouted (admin key)", ctx.admin_inbound.ListUnrouted,
                I.ListUnroutedRequest(page_size=100)).messages
    by_id = {m.id: m for m in listed}
    for m in msgs.values():
        check(m.id in by_id, f"ListUnrouted does not list message {m.id} ({m.to}, {m.unrouted_reason})")
        check_eq(by_id[m.id], m, f"message {m.id} as ListUnrouted shows it vs as Deliver shows it")
    check(all(m.state == UNROUTED for m in listed), f"ListUnrouted lists messages not UNROUTED: "
                                                    f"{[state_name(m.state) for m in listed]}")
    ours = [m.id for m in listed if m.id in {x.id for x in msgs.values()}]
    check_eq(ours, [msgs[r.upstream_message_id].id for r in (ended, unknown, nobody)],
             "the three in ListUnrouted (newest first)")
    paged, token, pages = [], "", 0
    while True:
        pages += 1
        check(pages <= 50, "ListUnrouted(page_size=2) paged more than 50 times")
        r = ok("ListUnrouted(page_size=2)", ctx.admin_inbound.ListUnrouted,
               I.ListUnroutedRequest(page_size=2, page_token=token))
        check(len(r.messages) <= 2, f"ListUnrouted(page_size=2) returned {len(r.messages)}")
        paged.extend(m.id for m in r.messages)
        if not r.next_page_token:
            break
        token = r.next_page_token
    check_eq(paged, [m.id for m in listed], "ListUnrouted in pages of 2 vs in one page")

    # RouteAgain: routing decides again from the same history.
    nm = msgs[nobody.upstream_message_id]
    again = ok("RouteAgain of the NO_HOLDER message", ctx.admin_inbound.RouteAgain, I.RouteAgainRequest(id=nm.id))
    check_eq((again.id, again.to, again.body), (nm.id, nm.to, nm.body), "RouteAgain's answer (id, to, body)")
    m, _ = wait_for("the message put back by RouteAgain is UNROUTED again with more attempts",
                    lambda: (lambda x: x if x.state == UNROUTED and x.attempts > nm.attempts else None)(
                        ctx.stored(nobody)), ROUTE_LIMIT)
    check_eq((m.unrouted_reason, m.holder_id), (NO_HOLDER, ""), "after RouteAgain (unrouted_reason, holder_id)")
    if ctx.routed is not None:
        r = ok("RouteAgain of a ROUTED message", ctx.admin_inbound.RouteAgain, I.RouteAgainRequest(id=ctx.routed.id))
        check_eq(r, ctx.routed, "RouteAgain of a routed message (returned unchanged)")
    check_error("RouteAgain of an unknown id", ctx.admin_inbound.RouteAgain, I.RouteAgainRequest(id=str(uuid.uuid4())),
                NOT_FOUND, RESOURCE_NOT_FOUND)
    check_no_leak(ctx)


def check_no_leak(ctx: Ctx):
    """No SMS that was kept as unrouted shows in any customer's activation."""
    leaks = []
    for cust, aid in ctx.kept:
        a = cust.get(aid, f"{cust.tag}: GetActivation({aid}), looking for unrouted SMS")
        leaks += [f"{cust.tag}'s activation {aid}: {m.body!r}" for m in a.messages if m.body in ctx.unrouted_bodies]
    check(not leaks, f"unrouted SMS shown to customers: {leaks}")
    note(f"{len(ctx.unrouted_bodies)} unrouted SMS; none in the {len(ctx.kept)} activations of "
         f"{len(ctx.customers)} customers")


def t_webhook(ctx: Ctx):
    """Twilio's webhook: signed -> 200 TwiML and routed; forged or unsigned -> 403, nothing stored."""
    token, ex_url, ex_params, ex_sig = _TWILIO_EXAMPLE
    check_eq(twilio_signature(token, ex_url, ex_params), ex_sig, "the test's own signature of Twilio's example")
    c = ctx.customer("webhook", credit=500)
    a = c.buy()
    public = PUBLIC_URL + TWILIO_PATH
    sign = lambda params, url=public, key=ctx.token: twilio_signature(key, url, params)  # noqa: E731

    forged = []
    f1 = twilio_form(new_sid(), a.phone_number, "Your WhatsApp code is 100-001")
    forged.append(("without X-Twilio-Signature", f1, None))
    f2 = twilio_form(new_sid(), a.phone_number, "Your WhatsApp code is 100-002")
    forged.append(("signed with another token", f2, sign(f2, key=secrets.token_hex(16))))
    f3 = twilio_form(new_sid(), a.phone_number, "Your WhatsApp code is 100-003")
    signed_for_other_body = sign(dict(f3, Body="Your WhatsApp code is 999-999"))
    forged.append(("whose Body differs from the signed one", f3, signed_for_other_body))
    f4 = twilio_form(new_sid(), a.phone_number, "Your WhatsApp code is 100-004")
    forged.append(("signed over the listen address instead of the public URL", f4, sign(f4, url=ctx.webhook_url())))
    f5 = twilio_form(new_sid(), a.phone_number, "Your WhatsApp code is 100-005")
    forged.append(("with a garbage signature", f5, "not-a-signature"))
    refused = []
    for what, params, sig in forged:
        status, _, text = post_form(ctx.webhook_url(), params, sig)
        if status != 403:
            refused.append(f"a webhook call {what}: HTTP {status} {text[:200]!r}, expected 403")
    check(not refused, "forged webhook calls not refused:\n    - " + "\n    - ".join(refused))

    body = "Your WhatsApp code is 731-508. Don't share it: ünïcode & + = %20"
    good = twilio_form(new_sid(), a.phone_number, body)
    status, ctype, text = post_form(ctx.webhook_url(), good, sign(good))
    check_eq(status, 200, f"HTTP status of a correctly signed webhook call (body {text[:200]!r})")
    check("xml" in ctype.lower(), f"Content-Type of the TwiML answer: {ctype!r}")
    try:
        root = ET.fromstring(text.strip())
    except ET.ParseError as e:
        raise Failure(f"the webhook's answer is not XML ({e}): {text!r}")
    check(root.tag == "Response" and len(root) == 0 and not (root.text or "").strip(),
          f"the webhook's answer is not the empty TwiML <Response></Response>: {text!r}")
    # A carrier that saw no answer (a timeout) posts the very same request again.
    status, _, text = post_form(ctx.webhook_url(), good, sign(good))
    check_eq(status, 200, f"HTTP status of the same signed call again (a carrier's retry; body {text[:200]!r})")
    query = "?source=e2e&n=1"
    with_query = twilio_form(new_sid(), a.phone_number, "Your WhatsApp code is 642-135")
    status, _, text = post_form(ctx.webhook_url(query), with_query, sign(with_query, url=public + query))
    check_eq(status, 200, f"HTTP status of a call to the webhook URL with a query string, signed over the URL with "
                          f"it (body {text[:200]!r})")

    want = sorted([("+14155550111", body, "731508"), ("+14155550111", with_query["Body"], "642135")])

    def arrived():
        got = c.get(a.id)
        return got if len(got.messages) >= 2 else None
    got, took = wait_for("the two signed webhook SMS reach the activation", arrived, ROUTE_LIMIT)
    note(f"signed webhook SMS reached the activation within {took * 1000:.0f} ms")
    time.sleep(ROUTE_INTERVAL * 5)
    got = c.get(a.id)
    check_eq(sorted((x.sender, x.body, x.code) for x in got.messages), want,
             "the activation's messages (sender, body, code): the two signed SMS once each, no forged one")
    check(all(x.phone_number == a.phone_number for x in got.messages), "messages' phone_number")

    # Nothing was stored under the forged calls' MessageSids: a Deliver with
    # those ids is new. (Control: under the accepted call's, it is not.)
    probe = lambda sid: ctx.deliver_req(IDLE_NUMBER, f"probe of {sid}", upstream="twilio", uid=sid)  # noqa: E731
    ckind, cres = outcome(ctx.intake.Deliver, probe(good["MessageSid"]))
    control = (ckind == "ERR" and cres.code == FAILED_PRECONDITION) or (ckind == "OK" and cres.duplicate)
    for what, params, _ in forged:
        req = probe(params["MessageSid"])
        kind, res = outcome(ctx.intake.Deliver, req)
        check(kind == "OK" and not res.duplicate,
              f"the MessageSid of the webhook call {what} was stored: Deliver(upstream twilio, that id) answered "
              f"{show(res)}")
        ctx.unrouted_bodies.append(req.body)
    if not control:
        note("the forged-sid probes are not conclusive: a Deliver with upstream \"twilio\" and the accepted call's "
             f"MessageSid was new too ({ckind} {show(cres)})")
    c.complete(a)
    c.check_balance(500 - WA_US, "after the webhook activation")


def t_webhook_refusals(ctx: Ctx):
    """Signed SMS inbound could not deliver (a 5,030-character Body, an over-long From) -> 400 naming the field,
    anything but a form -> 415, a body that never comes -> cut off; nothing stored. An SMS at every limit is
    delivered (the limits agree end to end)."""
    c = ctx.customer("webhook-limits", credit=500)
    a = c.buy()
    public = PUBLIC_URL + TWILIO_PATH
    sign = lambda params: twilio_signature(ctx.token, public, params)  # noqa: E731
    refused = []

    def refuse(what, params, want_status, want_text, content_type="application/x-www-form-urlencoded"):
        status, text = post_raw(ctx.webhook_url(), params, content_type, sign(params))
        if status != want_status or want_text not in text:
            refused.append(f"{what}: HTTP {status} {text[:200]!r}, expected {want_status} naming {want_text!r}")
        refused_sids.append((what, params["MessageSid"]))

    refused_sids = []
    refuse("a signed 5,030-character Body", twilio_form(new_sid(), a.phone_number, "7" * 5030), 400, "Body")
    refuse("a signed 65-character From", twilio_form(new_sid(), a.phone_number, "Your code is 100-006",
                                                     sender="s" * 65), 400, "From")
    form = twilio_form(new_sid(), a.phone_number, "Your WhatsApp code is 100-007")
    refuse("a signed form sent as text/plain", form, 415, "Content-Type", content_type="text/plain")
    form = twilio_form(new_sid(), a.phone_number, "Your WhatsApp code is 100-008")
    refuse("a signed form without a Content-Type", form, 415, "Content-Type", content_type=None)
    check(not refused, "webhook calls not refused as they should be:\n    - " + "\n    - ".join(refused))

    # A client that declares a body it never sends: cut off within the body
    # timeout (NUMHUB_INBOUND_WEBHOOK_BODY_TIMEOUT), with 408.
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", ctx.webhook_port), timeout=WEBHOOK_BODY_TIMEOUT + 10) as sock:
        sock.sendall(f"POST {TWILIO_PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                     f"Content-Length: 1000\r\n\r\nTo".encode())
        got = b""
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                break
            got += chunk
    took = time.monotonic() - t0
    check(got.startswith(b"HTTP/1.1 408"), f"a body that never came: answered {got[:100]!r}, expected 408")
    check(took < WEBHOOK_BODY_TIMEOUT + 3, f"a body that never came: connection closed after {took:.1f}s, "
                                           f"the body timeout is {WEBHOOK_BODY_TIMEOUT:.0f}s")

    # At every limit: 4,096 characters of text (multi-byte), a 64-character sender.
    text = "Your WhatsApp code is 864-297. "
    body = text + "ж" * (4096 - len(text))
    edge = twilio_form(new_sid(), a.phone_number, body, sender="s" * 64)
    status, answer = post_raw(ctx.webhook_url(), edge, "application/x-www-form-urlencoded; charset=utf-8", sign(edge))
    check_eq(status, 200, f"HTTP status of a signed SMS at every limit (answer {answer[:200]!r})")

    def arrived():
        got = c.get(a.id)
        return got if got.messages else None
    got, _ = wait_for("the SMS at every limit reaches the activation", arrived, ROUTE_LIMIT)
    time.sleep(ROUTE_INTERVAL * 5)
    got = c.get(a.id)
    check_eq([(m.sender, m.body, m.code) for m in got.messages], [("s" * 64, body, "864297")],
             "the activation's messages: the SMS at every limit, and none of the refused ones")
    # Nothing was stored under the refused calls' MessageSids: a Deliver with
    # those ids is new.
    for what, sid in refused_sids:
        req = ctx.deliver_req(IDLE_NUMBER, f"probe of {sid}", upstream="twilio", uid=sid)
        kind, res = outcome(ctx.intake.Deliver, req)
        check(kind == "OK" and not res.duplicate,
              f"the MessageSid of {what} was stored: Deliver(upstream twilio, that id) answered {show(res)}")
        ctx.unrouted_bodies.append(req.body)
    c.complete(a)


def t_expiry(ctx: Ctx):
    """The tg activation without an SMS: EXPIRED by the worker, refunded once; a later SMS does not reach it."""
    check(ctx.expiry is not None, "expiry_arm did not run")
    e, a, w = ctx.expiry
    try:
        left = secs(a.expire_time) - time.time()
        if left > 0:
            print(f"     (waiting {left:.1f}s for the tg activation to reach its expire_time)", flush=True)
            time.sleep(left)

        def ended():
            # The status is committed before the wallet's refund; `refunded`
            # follows once it is done: wait for both (or another end).
            x = e.get(a.id)
            if x.status not in TERMINAL or (x.status == EXPIRED and x.refunded.minor_units != TG_US):
                return None
            return x
        q, waited = wait_for("the tg activation ends, refunded", ended, WORKER_INTERVAL * 10 + 3.0)
        check_eq((status_name(q.status), q.refunded, list(q.messages)),
                 ("ACTIVATION_STATUS_EXPIRED", money(TG_US, "USD"), []),
                 "the expired activation (status, refunded, messages)")
        note(f"EXPIRED and refunded {waited:.2f}s after its expire_time (worker interval {WORKER_INTERVAL}s)")
        e.check_balance(1000, "after the expiry (the price refunded)")
        end = w.wait_end(3)
        check(end is not None and end[0] == "OK", f"the expired activation's stream did not end OK: {end}; "
                                                  f"received {show(w.got())}")
        check_eq(names(statuses_of(w.got()))[-1:], names([EXPIRED]), "the stream's last status")
        req = ctx.deliver_req(a.phone_number, "Telegram code: 80424", sender="Telegram")
        ctx.deliver(req, "Deliver to the expired activation's number")
        m, _ = ctx.wait_state(req, UNROUTED, ROUTE_LIMIT, "an SMS after the expiry")
        check(m.unrouted_reason in (NO_HOLDER, HOLDER_ENDED) and not m.holder_id,
              f"the SMS after the expiry: expected UNROUTED with NO_HOLDER (or HOLDER_ENDED) and no holder_id, got "
              f"{show(m)}")
        ctx.unrouted_bodies.append(req.body)
        check_eq(list(e.get(a.id).messages), [], "the expired activation's messages after the late SMS")
        time.sleep(WORKER_INTERVAL * 3)
        e.check_balance(1000, "a few worker rounds later (refunded once)", settle=0)
    finally:
        w.cancel()


def t_orders_restart(ctx: Ctx):
    """orders stopped mid-flow: Deliver still answers, the SMS waits PENDING; orders back: routed, exactly once."""
    dep = ctx.dep
    c = ctx.customer("orders restart", credit=500)
    a = c.buy()
    ctx.stopped.add(dep.orders)
    sigterm(dep.orders, "orders stopped mid-flow")
    req = ctx.deliver_req(a.phone_number, "Your WhatsApp code is 314-159")
    t0 = time.monotonic()
    m = ctx.deliver(req, "Deliver while orders is down")
    answered = time.monotonic() - t0
    check(answered < 2.0, f"Deliver took {answered:.2f}s to answer while orders was down (it stores, then routes)")
    check_eq(state_name(m.state), "ROUTE_STATE_PENDING", "state of the SMS Deliver stored while orders is down")
    time.sleep(1.5)
    held = ctx.stored(req, "Deliver again while orders is down")
    check_eq((held.id, state_name(held.state), held.holder_id), (m.id, "ROUTE_STATE_PENDING", ""),
             "the SMS 1.5s later with orders still down (id, state, holder_id)")
    check(held.attempts >= 1, f"routing attempts while orders was down: {held.attempts} (expected tries, backing off)")
    note(f"{held.attempts} routing attempt(s) in 1.5s with orders down")
    dep.orders.start()
    ctx.stopped.discard(dep.orders)
    routed, took = ctx.wait_state(req, ROUTED, RECOVERY_LIMIT, "the SMS held back while orders was down")
    check_eq((routed.id, routed.holder_id), (m.id, a.id), "the routed SMS (id, holder_id)")
    note(f"routed {took:.2f}s after orders was serving again (max backoff {MAX_BACKOFF}s)")
    time.sleep(ROUTE_INTERVAL * 5)
    got = c.get(a.id)
    check_eq([(x.body, x.code) for x in got.messages], [(req.body, "314159")],
             "GetActivation's messages after orders came back (exactly once)")
    check_eq(status_name(got.status), "ACTIVATION_STATUS_RECEIVED", "status after the held-back SMS")
    streamed = replay_messages(c.api, a.id, 1, "WatchActivation after orders came back")
    check_eq([(x.body, x.code) for x in streamed], [(req.body, "314159")],
             "messages WatchActivation shows after orders came back (exactly once)")
    c.complete(a)
    c.check_balance(500 - WA_US, "after the activation completed across the orders restart")


def t_inbound_restart(ctx: Ctx):
    """inbound restarted with a PENDING message (orders down): kept across the restart, routed once orders is back."""
    dep = ctx.dep
    c = ctx.customer("inbound restart", credit=500)
    a = c.buy()
    ctx.stopped.add(dep.orders)
    sigterm(dep.orders, "orders stopped so that an SMS stays PENDING")
    req = ctx.deliver_req(a.phone_number, "Your WhatsApp code is 271-828")
    m = ctx.deliver(req, "Deliver while orders is down")
    check_eq(state_name(m.state), "ROUTE_STATE_PENDING", "state of the SMS stored while orders is down")
    time.sleep(0.5)
    ctx.stopped.add(dep.inbound)
    sigterm(dep.inbound, "inbound stopped with a PENDING message")
    dep.inbound.start()
    ctx.stopped.discard(dep.inbound)
    held = ctx.stored(req, "Deliver again after inbound's restart")
    check_eq((held.id, state_name(held.state), held.body), (m.id, "ROUTE_STATE_PENDING", req.body),
             "the SMS after inbound's restart, orders still down (id, state, body)")
    time.sleep(1.0)
    dep.orders.start()
    ctx.stopped.discard(dep.orders)
    routed, took = ctx.wait_state(req, ROUTED, RECOVERY_LIMIT, "the SMS stored before inbound's restart")
    check_eq((routed.id, routed.holder_id), (m.id, a.id), "the routed SMS (id, holder_id)")
    note(f"routed by the restarted inbound {took:.2f}s after orders was serving again")
    time.sleep(ROUTE_INTERVAL * 5)
    got = c.get(a.id)
    check_eq([(x.body, x.code) for x in got.messages], [(req.body, "271828")],
             "GetActivation's messages after both restarts (exactly once)")
    streamed = replay_messages(c.api, a.id, 1, "WatchActivation after both restarts")
    check_eq([x.code for x in streamed], ["271828"], "messages WatchActivation shows after both restarts")
    c.complete(a)
    # A fresh SMS goes straight through the restarted inbound.
    b = c.buy()
    req2 = ctx.deliver_req(b.phone_number, "Your WhatsApp code is 161-803")
    ctx.deliver(req2, "Deliver after both restarts")
    ctx.wait_state(req2, ROUTED, ROUTE_LIMIT, "an SMS after both restarts")
    check_eq([x.code for x in c.get(b.id).messages], ["161803"], "messages of an activation bought after restarts")
    c.complete(b)
    c.check_balance(500 - 2 * WA_US, "after two completed activations")


def t_unrouted_never_shown(ctx: Ctx):
    """Every SMS kept as unrouted during the suite: in no customer's activation."""
    check(ctx.unrouted_bodies, "no unrouted SMS to look for (the checks that make them did not run)")
    check_no_leak(ctx)


def t_logs_clean(ctx: Ctx):
    note(ctx.dep.check_logs_clean(extra={"Twilio auth token": ctx.token}))


PG_SUITE = [
    ("inbound_health_and_access", t_inbound_health),
    ("expiry_arm", t_expiry_arm),
    ("deliver_stream_complete", t_deliver_stream_complete),
    ("to_digits_only", t_to_digits_only),
    ("cancel_refund", t_cancel_refund),
    ("duplicate_delivered_once", t_duplicates),
    ("unrouted_kept", t_unrouted),
    ("webhook_signed_and_forged", t_webhook),
    ("webhook_refusals_and_limits", t_webhook_refusals),
    ("expiry_refund", t_expiry),
    ("orders_restart_loses_nothing", t_orders_restart),
    ("inbound_restart_loses_nothing", t_inbound_restart),
    ("unrouted_never_shown", t_unrouted_never_shown),
    ("no_secrets_in_logs", t_logs_clean),
]
NEEDS = {"expiry_refund": "expiry_arm"}


def pg_names() -> list:
    return [f"postgres/{n}" for n, _ in PG_SUITE]


def scenario_postgres(runner: Runner):
    scenario = "postgres"
    all_names = [f"{scenario}/reachable", f"{scenario}/migrate", f"{scenario}/start"] + pg_names()
    if not any(runner.wanted(n) for n in all_names):
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
        dbs = FreshDatabases("accounts", "wallet", "catalog", "orders", "inbound", "rentals").__enter__()
    except Failure as e:
        runner.fail(f"{scenario}/create_database", str(e))
        return
    try:
        wd = runner.workdir("inbound-postgres")
        url = dbs.url("inbound")

        def migrate():
            for attempt in (1, 2):
                r = run_binary(ARGS.inbound_binary, ["migrate"], wd, {"NUMHUB_DATABASE_URL": url})
                check_eq(r.returncode, 0, f"exit code of `numhub-inbound migrate` (run {attempt}) against {url} "
                                          f"(stderr: {r.stderr.decode(errors='replace')[-2000:]!r})")
            p = psql(url, "SELECT count(*) FROM information_schema.tables "
                          "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')")
            check(p.returncode == 0 and int(p.stdout.strip() or 0) > 0,
                  f"`migrate` left no tables in {url}: {p.stdout.strip()} {p.stderr.strip()}")

        if not runner.run(f"{scenario}/migrate", migrate):
            runner.not_run([f"{scenario}/start"] + pg_names(), "migrate failed")
            return
        token = secrets.token_hex(20)
        (webhook_port,) = free_ports(1)
        inbound_env = {
            "NUMHUB_INBOUND_ROUTE_INTERVAL": f"{int(ROUTE_INTERVAL * 1000)}ms",
            "NUMHUB_INBOUND_MAX_BACKOFF": f"{int(MAX_BACKOFF)}s",
            "NUMHUB_INBOUND_TWILIO_AUTH_TOKEN": token,
            "NUMHUB_INBOUND_WEBHOOK_ADDR": f"127.0.0.1:{webhook_port}",
            "NUMHUB_INBOUND_WEBHOOK_PUBLIC_URL": PUBLIC_URL,
            "NUMHUB_INBOUND_WEBHOOK_BODY_TIMEOUT": f"{int(WEBHOOK_BODY_TIMEOUT)}s",
        }
        dep = Deployment("inbound-pg", wd, catalog=True, orders=True, inbound=True,
                         accounts_db=dbs.url("accounts"), wallet_db=dbs.url("wallet"), catalog_db=dbs.url("catalog"),
                         orders_db=dbs.url("orders"), inbound_db=url, rentals_db=dbs.url("rentals"),
                         orders_env=ORDERS_ENV, inbound_env=inbound_env)
        dep.remember("Twilio auth token", token)
        run_pg_suite(runner, scenario, dep, Ctx(scenario, dep, token, webhook_port))
    finally:
        dbs.__exit__(None, None, None)


def run_pg_suite(runner: Runner, scenario: str, dep: Deployment, ctx: Ctx):
    before = len(runner.failed)
    forced = set()
    for name, _ in PG_SUITE:
        if runner.wanted(f"{scenario}/{name}") and name in NEEDS:
            forced.add(NEEDS[name])

    def start():
        dep.start()
        ctx.setup()

    try:
        if not runner.run(f"{scenario}/start", start, force=True):
            runner.not_run(pg_names(), "the servers did not start")
            return
        for i, (name, fn) in enumerate(PG_SUITE):
            runner.run(f"{scenario}/{name}", fn, ctx, force=name in forced)
            # A check that stops a process on purpose and fails before it
            # starts it again: start it here, so the next checks can run.
            for p in list(ctx.stopped):
                if not p.running():
                    try:
                        p.start()
                    except Failure as e:
                        runner.fail(f"{scenario}/servers_alive", f"could not restart {p.name} after {name}: {e}")
                        runner.not_run([f"{scenario}/{n}" for n, _ in PG_SUITE[i + 1:]], "a server is down")
                        return
                ctx.stopped.discard(p)
            dead = [p for p in dep.processes() if not p.running()]
            if dead:
                gone = [f"{p.name} (exit code {p.proc.returncode})" for p in dead]
                runner.fail(f"{scenario}/servers_alive", f"{', '.join(gone)} died during {name}")
                runner.not_run([f"{scenario}/{n}" for n, _ in PG_SUITE[i + 1:]], "a server died")
                return
    finally:
        if ctx.expiry is not None:
            ctx.expiry[2].cancel()
        dep.kill()
        if len(runner.failed) > before:
            print(f"---- {scenario}: server logs in {dep.workdir}", flush=True)
            dump_logs(dep)


# ---------------------------------------------------------------------------
# numhubd on SQLite, with the CLI
# ---------------------------------------------------------------------------


class Box:
    """numhubd's services, bound to one credential."""

    def __init__(self, proc: Proc, secret):
        md = (("authorization", f"Bearer {secret}"),) if secret else ()
        self.orders = BoundStub(proc, orders_pb2_grpc.OrdersServiceStub, "numhub.orders.v1.OrdersService", md)
        self.wallet = BoundStub(proc, wallet_pb2_grpc.WalletServiceStub, "numhub.wallet.v1.WalletService", md)
        self.catalog = BoundStub(proc, catalog_pb2_grpc.CatalogServiceStub, "numhub.catalog.v1.CatalogService", md)
        self.inbound_internal = BoundStub(proc, inbound_pb2_grpc.InboundInternalServiceStub,
                                          "numhub.inbound.v1.InboundInternalService", md)
        self.inbound_admin = BoundStub(proc, inbound_pb2_grpc.InboundAdminServiceStub,
                                       "numhub.inbound.v1.InboundAdminService", md)


class BoxCtx:
    def __init__(self, proc: Proc, credential: str, cwd: str):
        self.proc = proc
        self.credential = credential
        self.cwd = cwd
        self.admin_key = None
        self.demo_key = None
        self.code = None
        self.activation = None
        self.snapshot = None
        self.unrouted = None

    def demo(self) -> Box:
        return Box(self.proc, self.demo_key)

    def admin(self) -> Box:
        return Box(self.proc, self.admin_key)

    def internal(self) -> Box:
        return Box(self.proc, self.credential)

    def balance(self):
        return ok("the demo customer's GetBalance", self.demo().wallet.GetBalance, W.GetBalanceRequest()).available

    def cli_buy(self, what: str) -> tuple:
        """`numhub buy --service wa --country US --wait`: (code, seconds)."""
        args = ["--addr", f"http://{self.proc.grpc_addr}", "--key", self.demo_key, "buy", "--service", "wa",
                "--country", "US", "--wait"]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": self.cwd}
        t0 = time.monotonic()
        p = run_binary(ARGS.cli_binary, args, self.cwd, env, timeout=CLI_LIMIT + 10)
        took = time.monotonic() - t0
        out, err = p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
        shown = "numhub --addr ... --key <demo key> " + " ".join(args[4:])
        check_eq(p.returncode, 0, f"{what}: exit code of `{shown}` (stdout {out!r}, stderr {err[-1000:]!r})")
        check(re.fullmatch(r"[0-9]{6}\n?", out), f"{what}: `{shown}` should print the 6-digit code alone on stdout; "
                                                 f"got stdout {out!r} (stderr {err[-500:]!r})")
        check(took <= CLI_LIMIT, f"{what}: `{shown}` took {took:.1f}s (limit {CLI_LIMIT:.0f}s)")
        return out.strip(), took

    def newest(self, what: str) -> O.Activation:
        listed = ok(f"{what}: ListActivations", self.demo().orders.ListActivations,
                    O.ListActivationsRequest(page_size=1)).activations
        check(len(listed) == 1, f"{what}: ListActivations of the demo customer is empty")
        return ok(f"{what}: GetActivation", self.demo().orders.GetActivation,
                  O.GetActivationRequest(id=listed[0].id))


def is_sqlite(path: str) -> bool:
    if not os.path.isfile(path):
        return False
    with open(path, "rb") as f:
        return f.read(16) == b"SQLite format 3\x00"


def t_box_start(bx: BoxCtx):
    """numhubd on a fresh data dir: serving, the operator's key then the demo customer's printed on stderr."""
    bx.proc.start()
    text = read_text(bx.proc.err_path)
    admin_at = text.find("admin key")
    demo_at = text.find("the demo customer's API key")
    check(demo_at >= 0, f"numhubd's stderr does not print \"the demo customer's API key\":\n{tail(bx.proc.err_path)}")
    check(0 <= admin_at < demo_at, "numhubd's stderr does not print the operator's admin key before the demo key")
    admin = KEY_RE.search(text, admin_at)
    demo = KEY_RE.search(text, demo_at)
    check(admin and admin.start() < demo_at, "no key after \"admin key\" on numhubd's stderr")
    check(demo, "no key after \"the demo customer's API key\" on numhubd's stderr")
    bx.admin_key, bx.demo_key = admin.group(0), demo.group(0)
    check_key_shape(bx.admin_key, "the operator's admin key numhubd printed")
    check_key_shape(bx.demo_key, "the demo customer's key numhubd printed")
    check(bx.admin_key != bx.demo_key, "numhubd printed the same key as the admin's and the demo customer's")
    check_eq(bx.balance(), money(DEMO_BALANCE, "USD"), "the demo customer's balance on the first start (USD 50.00)")
    data = os.path.join(bx.cwd, "data")
    files = sorted(os.listdir(data)) if os.path.isdir(data) else []
    sqlite = [f for f in files if is_sqlite(os.path.join(data, f))]
    for service in ("accounts", "wallet", "catalog", "orders", "inbound", "rentals"):
        check(f"{service}.db" in sqlite, f"no SQLite file {service}.db in NUMHUB_DATA_DIR ({data}): {files}")


def t_box_cli_buy(bx: BoxCtx):
    """`numhub buy --service wa --country US --wait` prints the simulated SMS's 6-digit code alone on stdout."""
    check(bx.demo_key, "numhubd/start did not run")
    code, took = bx.cli_buy("the demo customer")
    bx.code = code
    bx.activation = a = bx.newest("after the CLI's buy")
    check_eq((a.service_code, a.country_code, status_name(a.status), a.code),
             ("wa", "US", "ACTIVATION_STATUS_RECEIVED", code),
             "the activation the CLI bought (service, country, status, code)")
    check_eq([(x.phone_number, x.code) for x in a.messages], [(a.phone_number, code)],
             "the activation's messages (phone_number, code): the simulated SMS, once")
    check(code in re.sub(r"[^0-9]", "", a.messages[0].body),
          f"the message body {a.messages[0].body!r} does not carry the code {code}")
    note(f"the CLI printed {code} {took:.1f}s after it started; the SMS: {a.messages[0].sender!r} "
         f"{a.messages[0].body!r}")


def t_box_stream_complete(bx: BoxCtx):
    """WatchActivation sees the message with the CLI's code; CompleteActivation -> FINISHED; balance - price."""
    check(bx.activation is not None, "numhubd/cli_buy_wait did not run")
    a, demo = bx.activation, bx.demo()
    w = Watch("WatchActivation of the CLI's activation", demo.orders.WatchActivation,
              O.WatchActivationRequest(id=a.id), timeout=30)
    try:
        w.wait("the message with the CLI's code",
               lambda items: any(m.code == bx.code for m in messages_of(items)) and RECEIVED in statuses_of(items), 5)
        msgs = messages_of(w.got())
        check_eq([(m.activation_id, m.phone_number, m.code) for m in msgs], [(a.id, a.phone_number, bx.code)],
                 "messages on the stream (activation_id, phone_number, code)")
        done = ok("CompleteActivation", demo.orders.CompleteActivation, O.CompleteActivationRequest(id=a.id))
        check_eq((status_name(done.status), done.refunded.minor_units), ("ACTIVATION_STATUS_FINISHED", 0),
                 "CompleteActivation (status, refunded)")
        end = w.wait_end(5)
        check(end is not None and end[0] == "OK", f"the stream did not end (OK) after CompleteActivation: {end}; "
                                                  f"received {show(w.got())}")
        check_eq(names(statuses_of(w.got()))[-2:], names([RECEIVED, FINISHED]), "the stream's last statuses")
    finally:
        w.cancel()
    prices = ok("ListPrices(wa, US)", demo.catalog.ListPrices,
                C.ListPricesRequest(service_code="wa", country_code="US")).prices
    listed = [p.price for p in prices if not p.operator]
    check_eq(listed, [a.price], "the catalog's price of wa in the US vs the activation's price")
    check(a.price.minor_units > 0 and a.price.currency_code == "USD", f"the activation's price {show(a.price)}")
    check_eq(bx.balance(), money(DEMO_BALANCE - a.price.minor_units, "USD"),
             f"the demo customer's balance after the completed activation (USD 50.00 - {show(a.price)})")
    bx.activation = ok("GetActivation after CompleteActivation", demo.orders.GetActivation,
                       O.GetActivationRequest(id=a.id))


def t_box_unrouted(bx: BoxCtx):
    """numhubd's inbound: an SMS to a demo number nobody leased is kept for the operator, shown to no customer."""
    check(bx.admin_key, "numhubd/start did not run")
    req = I.DeliverRequest(upstream="e2e-gateway", upstream_message_id=rid(), to=NUMHUBD_IDLE_NUMBER,
                           sender="Google", body="G-402913 is your Google verification code.",
                           receive_time=ts(time.time()))
    r = ok("Deliver to numhubd with the service credential", bx.internal().inbound_internal.Deliver, req)
    check_eq(r.duplicate, False, "duplicate of a first Deliver")

    def unrouted():
        x = ok("Deliver again (to read the state)", bx.internal().inbound_internal.Deliver, req)
        return x.message if x.message.state == UNROUTED else None
    m, _ = wait_for("the SMS to an idle demo number is UNROUTED", unrouted, ROUTE_LIMIT)
    check_eq((m.unrouted_reason, m.holder_id), (NO_HOLDER, ""), "the SMS to an idle number (reason, holder_id)")
    listed = ok("ListUnrouted with the operator's printed key", bx.admin().inbound_admin.ListUnrouted,
                I.ListUnroutedRequest()).messages
    check_eq([x for x in listed if x.id == m.id], [m], "the SMS in ListUnrouted")
    check_error("ListUnrouted with the demo customer's key", bx.demo().inbound_admin.ListUnrouted,
                I.ListUnroutedRequest(), PERMISSION_DENIED, MISSING_SCOPE)
    listed = ok("the demo customer's ListActivations", bx.demo().orders.ListActivations,
                O.ListActivationsRequest()).activations
    for x in listed:
        full = ok("GetActivation", bx.demo().orders.GetActivation, O.GetActivationRequest(id=x.id))
        check(all(msg.body != req.body for msg in full.messages), f"the unrouted SMS shows in activation {x.id}")
    bx.unrouted = m


def t_box_restart(bx: BoxCtx):
    """SIGTERM, then numhubd again on the same data dir: no new key printed; the activation, balance, SMS kept."""
    check(bx.activation is not None and bx.demo_key, "the earlier numhubd checks did not run")
    before_balance = bx.balance()
    took = sigterm(bx.proc, "numhubd", limit=SHUTDOWN_LIMIT + 3.0)
    note(f"numhubd exited 0 {took:.2f}s after SIGTERM")
    bx.proc.start()
    text = read_text(bx.proc.err_path)
    keys = KEY_RE.findall(text)
    check(not keys and "the demo customer's API key" not in text,
          f"the second start printed a key or the demo banner ({len(keys)} key(s)); stderr:\n"
          f"{tail(bx.proc.err_path, 15)}")
    after = ok("GetActivation after the restart (the demo key still works)", bx.demo().orders.GetActivation,
               O.GetActivationRequest(id=bx.activation.id))
    check_eq(after, bx.activation, "the activation after the restart")
    check_eq(bx.balance(), before_balance, "the demo customer's balance after the restart")
    if bx.unrouted is not None:
        listed = ok("ListUnrouted after the restart", bx.admin().inbound_admin.ListUnrouted,
                    I.ListUnroutedRequest()).messages
        check_eq([x for x in listed if x.id == bx.unrouted.id], [bx.unrouted], "the unrouted SMS after the restart")
    # The loop still runs: the simulator answers a new purchase.
    code, took = bx.cli_buy("after the restart")
    a = bx.newest("after the second buy")
    check(a.id != bx.activation.id, "the CLI's second buy returned the first activation")
    check_eq((a.code, [m.code for m in a.messages]), (code, [code]), "the second activation (code, message codes)")
    ok("CompleteActivation of the second", bx.demo().orders.CompleteActivation, O.CompleteActivationRequest(id=a.id))
    check_eq(bx.balance(), money(before_balance.minor_units - a.price.minor_units, "USD"),
             "the balance after a second completed purchase")
    note(f"after the restart the CLI printed a code in {took:.1f}s")


BOX_SUITE = [
    ("start", t_box_start),
    ("cli_buy_wait", t_box_cli_buy),
    ("stream_and_complete", t_box_stream_complete),
    ("unrouted_kept", t_box_unrouted),
    ("sigterm_restart_keeps_all", t_box_restart),
]


def scenario_numhubd(runner: Runner):
    scenario = "numhubd"
    all_names = [f"{scenario}/{n}" for n, _ in BOX_SUITE]
    if not any(runner.wanted(n) for n in all_names):
        return
    wd = runner.workdir("numhubd")
    (port, http_port) = free_ports(2)
    credential = service_credential()
    env = {
        "NUMHUB_LISTEN_ADDR": f"127.0.0.1:{port}",
        "NUMHUB_METRICS_ADDR": "off",
        "NUMHUB_GATEWAY_HTTP_ADDR": f"127.0.0.1:{http_port}",
        "NUMHUB_DATA_DIR": os.path.join(wd, "data"),
        "NUMHUB_SERVICE_CREDENTIAL": credential,
        "NUMHUB_SIMULATOR_MIN_DELAY": SIM_MIN_DELAY,
        "NUMHUB_SIMULATOR_MAX_DELAY": SIM_MAX_DELAY,
    }
    proc = Proc(ARGS.numhubd_binary, "numhubd", wd, env, f"127.0.0.1:{port}")
    bx = BoxCtx(proc, credential, wd)
    before = len(runner.failed)
    try:
        if not runner.run(f"{scenario}/start", t_box_start, bx, force=True):
            runner.not_run(all_names[1:], "numhubd did not start")
            return
        for name, fn in BOX_SUITE[1:]:
            # Each check builds on the ones before it: -k runs them all.
            runner.run(f"{scenario}/{name}", fn, bx, force=True)
            if not proc.running():
                runner.fail(f"{scenario}/alive", f"numhubd (exit code {proc.proc.returncode}) died during {name}")
                return
    finally:
        proc.kill()
        if len(runner.failed) > before:
            for path in proc.outputs:
                print(f"---- numhubd: last lines of {path[1]}:\n{tail(path[1], 25)}", flush=True)


def main() -> int:
    runner = Runner("test_inbound.py")
    binaries = (ARGS.accounts_binary, ARGS.wallet_binary, ARGS.catalog_binary, ARGS.orders_binary,
                ARGS.inbound_binary, ARGS.rentals_binary, ARGS.numhubd_binary, ARGS.cli_binary)
    if runner.binaries_ok(binaries):
        print(f"numhub inbound e2e: binaries {' '.join(binaries)}", flush=True)
        scenario_numhubd(runner)
        scenario_postgres(runner)
    return runner.finish()


if __name__ == "__main__":
    sys.exit(main())
