#!/usr/bin/env python3
"""End-to-end tests of numhub's SMS-Activate protocol (/stubs/handler_api.php)
with unmodified client libraries from PyPI, judged as an outside client.

`numhubd` runs alone as a process on a fresh SQLite data directory with its
demo, configured only with NUMHUB_LISTEN_ADDR, NUMHUB_METRICS_ADDR=off,
NUMHUB_GATEWAY_HTTP_ADDR (a free port), NUMHUB_DATA_DIR,
NUMHUB_SERVICE_CREDENTIAL and NUMHUB_SIMULATOR=false. The operator's admin key
and the demo customer's are read from its standard error; the admin key makes
one customer per client (USD 20.00, limits a polling client never reaches),
and every SMS is handed to inbound's InboundInternalService.Deliver with the
service credential, as a SIM bank would. Money is checked exactly, in minor
units, through WalletAdminService.GetAccountBalance, besides what each client
reads.

The clients, as their authors ship them (pinned in requirements.txt):

  * `smsactivate`, SMS-Activate's official client. Its URL is fixed,
    https://api.sms-activate.org/stubs/handler_api.php, with no setting for
    another. It is reached the way its users point it at a compatible
    server (a hosts-file entry for that name): through `requests`' own
    settings, HTTPS_PROXY at a local proxy that answers CONNECT for
    api.sms-activate.org:443 with a certificate of a throw-away authority
    (trustme) named in REQUESTS_CA_BUNDLE, and relays the requests to
    numhub's gateway. The client's code and URL are untouched.
  * `herosms`, an async client for hero-sms.com's dialect of the protocol,
    pointed at the gateway with its documented `base_url` argument.

Each buys a number, reads the status and the code, asks for another SMS,
reads the new code, completes; buys another and cancels it (refunded once);
reads the balance and the prices; and rents a number. The official client
also reads the countries and operators, renews and ends its rental, and meets
the protocol's error tokens.

Usage: test_sms_activate.py [--numhubd-binary PATH] [--gen target/e2e-gen]
                            [-k SUBSTRING] [--keep]
(the other binaries' flags are accepted and unused). The last line printed is
always "N passed, M failed"; the exit code is 0 only when nothing failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import select
import socket
import ssl
import sys
import threading
import time
import urllib.parse
import urllib.request

from e2e_common import (  # noqa: E402
    ARGS, KEY_RE, READ, WRITE, A, BoundStub, I, Proc, Runner, W, check, check_eq, check_key_shape, free_ports,
    money, note, ok, read_text, rid, service_credential, tail, ts, wait_for,
)
from numhub.accounts.v1 import accounts_pb2_grpc  # noqa: E402
from numhub.inbound.v1 import inbound_pb2_grpc  # noqa: E402
from numhub.wallet.v1 import wallet_pb2_grpc  # noqa: E402

import trustme  # noqa: E402
from herosms import HeroSMSClient  # noqa: E402
from smsactivate.api import SMSActivateAPI  # noqa: E402

# The demo, as the protocol numbers and prices it.
US = 187
WA_US, TG_US, WEEK_US = 45, 30, 200
DEMO_BALANCE = "50.00"
START = 2_000  # each client's customer: USD 20.00
ROOMY = A.RateLimits(requests_per_minute=100_000, money_requests_per_minute=10_000)

# How long an SMS may take from Deliver to the client, and a refund to land.
LIMIT = 15.0
# The official client's one host.
OFFICIAL_HOST = "api.sms-activate.org"


# ---------------------------------------------------------------------------
# the proxy the official client is reached through
# ---------------------------------------------------------------------------


class TlsProxy:
    """A forward proxy for `requests`: CONNECT api.sms-activate.org:443 is
    answered, its TLS terminated with a certificate of a throw-away authority,
    and the bytes inside relayed to the gateway; any other CONNECT is refused
    (and recorded)."""

    def __init__(self, workdir: str, gateway_port: int):
        self.gateway_port = gateway_port
        self.ca = trustme.CA()
        self.ca_path = os.path.join(workdir, "proxy-ca.pem")
        self.ca.cert_pem.write_to_path(self.ca_path)
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert(OFFICIAL_HOST).configure_cert(self.context)
        self.lock = threading.Lock()
        self.tunnels = 0
        self.refused: list = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket):
        with contextlib.closing(conn):
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 8192:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                head += chunk
            method, target = (head.split(b"\r\n", 1)[0].decode("latin-1").split(" ") + ["", ""])[:2]
            if method != "CONNECT" or target != f"{OFFICIAL_HOST}:443":
                with self.lock:
                    self.refused.append(f"{method} {target}")
                conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                return
            conn.sendall(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            try:
                tls = self.context.wrap_socket(conn, server_side=True)
            except (ssl.SSLError, OSError):
                return
            with contextlib.closing(tls), socket.create_connection(("127.0.0.1", self.gateway_port)) as gateway:
                with self.lock:
                    self.tunnels += 1
                relay(tls, gateway)

    @contextlib.contextmanager
    def in_use(self):
        """`requests`' documented settings, for the duration of the block."""
        settings = {"HTTPS_PROXY": f"http://127.0.0.1:{self.port}", "REQUESTS_CA_BUNDLE": self.ca_path,
                    "NO_PROXY": "127.0.0.1,localhost"}
        settings.update({k.lower(): v for k, v in settings.items() if k != "REQUESTS_CA_BUNDLE"})
        saved = {k: os.environ.get(k) for k in settings}
        os.environ.update(settings)
        try:
            yield
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    def close(self):
        self.listener.close()


def relay(tls: ssl.SSLSocket, plain: socket.socket) -> None:
    """Bytes both ways until either side closes, in one thread (an SSL socket
    is not read and written from two)."""
    while True:
        ready = [tls] if tls.pending() else select.select([tls, plain], [], [], 60)[0]
        if not ready:
            return
        for sock in ready:
            other = plain if sock is tls else tls
            try:
                data = sock.recv(65536)
            except ssl.SSLWantReadError:
                continue
            except OSError:
                return
            if not data:
                return
            other.sendall(data)


# ---------------------------------------------------------------------------
# numhubd, its operator and its SIM bank
# ---------------------------------------------------------------------------


class Box:
    def __init__(self, proc: Proc, credential: str, http_port: int, workdir: str):
        self.proc = proc
        self.credential = credential
        self.http_port = http_port
        self.workdir = workdir
        self.admin_key = None
        self.demo_key = None
        self.proxy = None
        self.accounts: dict = {}  # key -> account id

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/stubs/handler_api.php"

    def admin(self, stub_cls, service: str) -> BoundStub:
        return BoundStub(self.proc, stub_cls, service, (("authorization", f"Bearer {self.admin_key}"),))

    def customer(self, cents: int) -> str:
        """A new customer with `cents` and a read-write key; its key."""
        accounts = self.admin(accounts_pb2_grpc.AccountsAdminServiceStub, "numhub.accounts.v1.AccountsAdminService")
        account = ok("CreateAccount", accounts.CreateAccount,
                     A.CreateAccountRequest(display_name="SMS-Activate client", rate_limits=ROOMY,
                                            request_id=rid()))
        key = ok("CreateAccountApiKey", accounts.CreateAccountApiKey,
                 A.CreateAccountApiKeyRequest(account_id=account.id, name="sms-activate", scopes=[READ, WRITE]))
        if cents:
            ok("Credit", self.wallet_admin().Credit,
               W.CreditRequest(account_id=account.id, amount=money(cents, "USD"), request_id=rid(), reason="e2e"))
        self.accounts[key.secret] = account.id
        return key.secret

    def wallet_admin(self) -> BoundStub:
        return self.admin(wallet_pb2_grpc.WalletAdminServiceStub, "numhub.wallet.v1.WalletAdminService")

    def cents(self, key: str) -> int:
        """The customer's balance in minor units, exactly, over gRPC."""
        balance = ok("GetAccountBalance", self.wallet_admin().GetAccountBalance,
                     W.GetAccountBalanceRequest(account_id=self.accounts[key]))
        check_eq(balance.available.currency_code, "USD", "the balance's currency")
        return balance.available.minor_units

    def check_cents(self, key: str, want: int, what: str) -> None:
        """The balance reads `want`, waiting for a refund to land; then stays."""
        wait_for(f"{what}: the balance reaches {want} cents", lambda: self.cents(key) == want, LIMIT)
        time.sleep(0.3)
        check_eq(self.cents(key), want, f"{what}: the balance, a moment later (money moves once)")

    def deliver(self, to: str, sender: str, body: str) -> None:
        inbound = BoundStub(self.proc, inbound_pb2_grpc.InboundInternalServiceStub,
                            "numhub.inbound.v1.InboundInternalService",
                            (("authorization", f"Bearer {self.credential}"),))
        ok(f"Deliver to {to}", inbound.Deliver,
           I.DeliverRequest(upstream="e2e-sms-activate", upstream_message_id=rid(), to=to, sender=sender,
                            body=body, receive_time=ts(time.time())))

    def raw(self, params: dict, method: str = "GET", form: dict | None = None):
        """The protocol by hand: (status, content type, body)."""
        url = f"{self.url}?{urllib.parse.urlencode(params)}"
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        request = urllib.request.Request(url, data=data, method=method)
        if form is not None:
            request.add_header("Content-Type", "application/x-www-form-urlencoded")
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=10) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read().decode()


# ---------------------------------------------------------------------------
# checks
# ---------------------------------------------------------------------------


def t_start(bx: Box):
    """numhubd starts; the protocol answers the demo customer's balance, byte for byte."""
    bx.proc.start()
    text = read_text(bx.proc.err_path)
    admin_at, demo_at = text.find("admin key"), text.find("the demo customer's API key")
    check(0 <= admin_at < demo_at, f"numhubd's stderr does not print both keys:\n{tail(bx.proc.err_path)}")
    bx.admin_key = KEY_RE.search(text, admin_at).group(0)
    bx.demo_key = KEY_RE.search(text, demo_at).group(0)
    check_key_shape(bx.demo_key, "the demo customer's key numhubd printed")
    got = bx.raw({"api_key": bx.demo_key, "action": "getBalance"})
    check_eq(got, (200, "text/plain; charset=utf-8", f"ACCESS_BALANCE:{DEMO_BALANCE}"),
             "getBalance of the demo customer (status, content type, body)")
    bx.proxy = TlsProxy(bx.workdir, bx.http_port)


def t_raw(bx: Box):
    """By hand: GET and POST, a form body, the tokens of a bad key and action, JSON's content type, always 200."""
    key = bx.customer(START)
    for what, got in [
        ("POST with a form body", bx.raw({}, "POST", {"api_key": key, "action": "getBalance"})),
        ("POST with the query and no body", bx.raw({"api_key": key, "action": "getBalance"}, "POST", {})),
    ]:
        check_eq(got, (200, "text/plain; charset=utf-8", "ACCESS_BALANCE:20.00"), what)
    check_eq(bx.raw({"api_key": "nh_live_nobody", "action": "getBalance"})[::2], (200, "BAD_KEY"), "an unknown key")
    check_eq(bx.raw({"action": "getBalance"})[::2], (200, "BAD_KEY"), "no key")
    check_eq(bx.raw({"api_key": key, "action": "getEverything"})[::2], (200, "BAD_ACTION"), "an unknown action")
    status, content_type, body = bx.raw({"api_key": key, "action": "getPrices", "service": "wa", "country": US})
    check_eq((status, content_type), (200, "application/json; charset=utf-8"), "getPrices (status, content type)")
    check(re.fullmatch(r'\{"187":\{"wa":\{"cost":0\.45,"count":\d+,"physicalCount":\d+\}\}\}', body),
          f"getPrices' body: {body!r}")
    status, _, body = bx.raw({"api_key": key, "action": "getNumber", "service": "wa", "country": 0})
    check_eq((status, body), (200, "NO_NUMBERS"), "getNumber where the demo sells nothing")
    check_eq(bx.cents(key), START, "the balance after reads and a refused purchase")


def t_official(bx: Box):
    """smsactivate (official), unmodified: balance, prices, buy, code, another SMS, complete, cancel, rent, errors."""
    check(bx.proxy is not None, "sms_activate/start did not run")
    key = bx.customer(START)
    sa = SMSActivateAPI(key)
    with bx.proxy.in_use():
        check_eq(sa.getBalance(), {"balance": "20.00"}, "getBalance")
        prices = sa.getPrices(service="wa", country=US)
        check_eq(list(prices), ["187"], "getPrices' countries")
        check_eq(prices["187"]["wa"]["cost"], 0.45, "getPrices' cost of wa in the US")
        check(prices["187"]["wa"]["count"] > 0, f"getPrices' count: {prices}")
        check_eq(sa.getCountries()["187"]["eng"], "United States", "getCountries of 187")
        check_eq(sa.getOperators(country=US), {"status": "success", "countryOperators": {"187": ["any"]}},
                 "getOperators of the US")

        # Buy, read the code, ask for another, read it, complete.
        bought = sa.getNumber(service="wa", country=US)
        check(set(bought) == {"activation_id", "phone"}, f"getNumber: {bought}")
        aid, phone = bought["activation_id"], f"+{bought['phone']}"
        bx.check_cents(key, START - WA_US, "after getNumber")
        check_eq(sa.getStatus(id=aid), "STATUS_WAIT_CODE", "getStatus before any SMS")
        bx.deliver(phone, "WhatsApp", "Your WhatsApp code is 123-456")
        wait_for("getStatus STATUS_OK:123456", lambda: sa.getStatus(id=aid) == "STATUS_OK:123456", LIMIT)
        check_eq(sa.setStatus(id=aid, status=3), "ACCESS_RETRY_GET", "setStatus 3")
        check_eq(sa.getStatus(id=aid), "STATUS_WAIT_RETRY:123456", "getStatus after setStatus 3")
        bx.deliver(phone, "WhatsApp", "WhatsApp code 654321. Don't share it.")
        wait_for("getStatus STATUS_OK:654321", lambda: sa.getStatus(id=aid) == "STATUS_OK:654321", LIMIT)
        active = sa.getActiveActivations()
        check_eq([(a["activationId"], a["smsCode"]) for a in active["activeActivations"]],
                 [(str(aid), ["654321"])], "getActiveActivations")
        check_eq(sa.setStatus(id=aid, status=6), "ACCESS_ACTIVATION", "setStatus 6")
        bx.check_cents(key, START - WA_US, "after completing")
        check_eq(sa.getBalance(), {"balance": "19.55"}, "getBalance after completing")

        # Buy and cancel: refunded once.
        v2 = sa.getNumberV2(service="tg", country=US)
        check_eq((v2["activationCost"], v2["currency"], v2["countryCode"], v2["canGetAnotherSms"]),
                 (0.3, 840, "187", "1"), "getNumberV2 (activationCost, currency, countryCode, canGetAnotherSms)")
        bx.check_cents(key, START - WA_US - TG_US, "after getNumberV2")
        check_eq(sa.setStatus(id=v2["activationId"], status=8), "ACCESS_CANCEL", "setStatus 8")
        bx.check_cents(key, START - WA_US, "after cancelling")
        check_eq(sa.setStatus(id=v2["activationId"], status=8), "ACCESS_CANCEL", "setStatus 8 again")
        check_eq(sa.getStatus(id=v2["activationId"])["error"], "STATUS_CANCEL", "getStatus once cancelled")
        bx.check_cents(key, START - WA_US, "after cancelling twice")

        # Rent for 4 hours (the week), read its SMS, add a day (another
        # week), end it: an SMS arrived, so nothing comes back.
        offer = sa.getRentServicesAndCountries(time=4, country=US)
        check_eq((offer["status"], offer["services"]["full"]["cost"], offer["currency"]), ("success", 2.0, 840),
                 "getRentServicesAndCountries (status, cost of full, currency)")
        check(US in offer["countries"].values(), f"getRentServicesAndCountries' countries: {offer['countries']}")
        rented = sa.getRentNumber(service="full", time=4, country=US)
        check_eq(rented["status"], "success", f"getRentNumber: {rented}")
        rent_id, number = rented["phone"]["id"], rented["phone"]["number"]
        bx.check_cents(key, START - WA_US - WEEK_US, "after getRentNumber")
        check_eq(sa.getRentStatus(id=rent_id), {"status": "error", "message": "STATUS_WAIT_CODE"},
                 "getRentStatus before any SMS")
        bx.deliver(f"+{number}", "Telegram", "Telegram code: 55555")
        status, _ = wait_for("getRentStatus with the SMS",
                             lambda: (lambda s: s if s.get("status") == "success" else None)(
                                 sa.getRentStatus(id=rent_id)), LIMIT)
        check_eq((status["quantity"], status["values"]["0"]["text"]), ("1", "Telegram code: 55555"),
                 "getRentStatus (quantity, text)")
        check_eq(sa.getRentList(), {"status": "success", "values": {"0": {"id": str(rent_id), "phone": number}}},
                 "getRentList")
        renewed = sa.continueRentNumber(id=rent_id, time=24)
        check_eq((renewed["status"], renewed["phone"]["id"]), ("success", rent_id), "continueRentNumber")
        check(renewed["phone"]["endDate"] > rented["phone"]["endDate"], f"the new end: {renewed} after {rented}")
        bx.check_cents(key, START - WA_US - 2 * WEEK_US, "after continueRentNumber")
        check_eq(sa.setRentStatus(id=rent_id, status=2), {"status": "success"}, "setRentStatus 2")
        check_eq(sa.setRentStatus(id=rent_id, status=2), {"status": "error", "message": "ALREADY_CANCEL"},
                 "setRentStatus 2 again")
        bx.check_cents(key, START - WA_US - 2 * WEEK_US, "after ending the rental (an SMS arrived: no refund)")

        # The error tokens the client knows.
        poor = SMSActivateAPI(bx.customer(10))
        check_eq(poor.getNumber(service="wa", country=US)["error"], "NO_BALANCE", "getNumber of a poor customer")
        check_eq(sa.getNumber(service="zz", country=US)["error"], "BAD_SERVICE", "getNumber of an unknown service")
        check_eq(SMSActivateAPI("nh_live_nobody").getBalance()["error"], "BAD_KEY", "getBalance of an unknown key")
        other = SMSActivateAPI(bx.customer(START))
        check_eq(other.setStatus(id=aid, status=8)["error"], "NO_ACTIVATION", "setStatus of another's activation")
        check_eq(sa.setStatus(id=aid, status=5)["error"], "BAD_STATUS", "setStatus 5")
    check(bx.proxy.tunnels > 0 and not bx.proxy.refused,
          f"the client's requests went elsewhere than {OFFICIAL_HOST}: {bx.proxy.refused}")
    bx.check_cents(key, START - WA_US - 2 * WEEK_US, "at the end")
    note(f"the official client went through {bx.proxy.tunnels} TLS tunnels to {OFFICIAL_HOST}")


def t_herosms(bx: Box):
    """herosms, unmodified, at base_url: balance, prices, buy, code, another SMS, complete, cancel, a rental."""
    key = bx.customer(START)
    asyncio.run(herosms_flow(bx, key))


async def herosms_flow(bx: Box, key: str):
    async with HeroSMSClient(api_key=key, base_url=bx.url, retry_attempts=1, poll_interval=0.1) as hero:
        balance = await hero.get_balance()
        check_eq(round(balance.amount * 100), START, f"get_balance ({balance})")
        prices = await hero.get_prices(service="wa", country=US)
        check_eq(prices["187"]["wa"].cost, 0.45, f"get_prices: {prices}")

        act = await hero.activations.create(service="wa", country=US)
        check_eq((act.cost, act.info.currency, act.info.country_code, act.can_resend), (0.45, 840, US, True),
                 "the activation (cost, currency, country, can resend)")
        bx.check_cents(key, START - WA_US, "after create")
        bx.deliver(act.phone, "WhatsApp", "Your WhatsApp code is 246-810")
        sms = await act.wait_for_sms(timeout=LIMIT, poll_interval=0.1)
        check_eq((sms.code, sms.sms.text), ("246810", "Your WhatsApp code is 246-810"), "wait_for_sms (code, text)")
        await act.request_sms()
        check_eq(await hero.get_status_v1(act.id), "STATUS_WAIT_RETRY:246810", "getStatus after request_sms")
        bx.deliver(act.phone, "WhatsApp", "WhatsApp code 135-791")
        sms = await act.wait_for_sms(timeout=LIMIT, poll_interval=0.1)
        check_eq(sms.code, "135791", "wait_for_sms after request_sms")
        await act.complete()
        check_eq(await hero.get_status_v1(act.id), "STATUS_OK:135791", "getStatus after complete")
        bx.check_cents(key, START - WA_US, "after complete")

        cancelled = await hero.activations.create(service="tg", country=US)
        bx.check_cents(key, START - WA_US - TG_US, "after the second create")
        await cancelled.cancel()
        bx.check_cents(key, START - WA_US, "after cancel")
        await cancelled.cancel()
        check_eq(await hero.get_status_v1(cancelled.id), "STATUS_CANCEL", "getStatus after cancel")
        bx.check_cents(key, START - WA_US, "after cancelling twice")

        # hero-sms rents by the minute: 4 hours buy the week.
        rented = await hero.rent_number("full", US, 240, response_format="json")
        check_eq(rented["status"], "success", f"rent_number: {rented}")
        bx.check_cents(key, START - WA_US - WEEK_US, "after rent_number")
        # The client has no call to end a rental: by hand. Ended at once
        # without an SMS, it is refunded.
        _, _, body = bx.raw({"api_key": key, "action": "setRentStatus", "id": rented["phone"]["id"], "status": 1})
        check_eq(body, '{"status":"success"}', "setRentStatus 1")
        bx.check_cents(key, START - WA_US, "after ending the rental")
        balance = await hero.get_balance()
        check_eq(round(balance.amount * 100), START - WA_US, f"get_balance at the end ({balance})")


SUITE = [
    ("start", t_start),
    ("by_hand", t_raw),
    ("official_client", t_official),
    ("herosms_client", t_herosms),
]


def main() -> int:
    runner = Runner("test_sms_activate.py")
    names = [f"sms_activate/{n}" for n, _ in SUITE]
    if not runner.binaries_ok((ARGS.numhubd_binary,)) or not any(runner.wanted(n) for n in names):
        return runner.finish()
    print(f"numhub SMS-Activate e2e: {ARGS.numhubd_binary}", flush=True)
    workdir = runner.workdir("sms-activate")
    port, http_port = free_ports(2)
    credential = service_credential()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "NUMHUB_LISTEN_ADDR": f"127.0.0.1:{port}",
        "NUMHUB_METRICS_ADDR": "off",
        "NUMHUB_GATEWAY_HTTP_ADDR": f"127.0.0.1:{http_port}",
        "NUMHUB_DATA_DIR": os.path.join(workdir, "data"),
        "NUMHUB_SERVICE_CREDENTIAL": credential,
        "NUMHUB_SIMULATOR": "false",
    }
    proc = Proc(ARGS.numhubd_binary, "numhubd", workdir, env, f"127.0.0.1:{port}")
    bx = Box(proc, credential, http_port, workdir)
    before = len(runner.failed)
    try:
        if runner.run("sms_activate/start", t_start, bx, force=True):
            for name, fn in SUITE[1:]:
                runner.run(f"sms_activate/{name}", fn, bx)
                if not proc.running():
                    runner.fail("sms_activate/alive", f"numhubd (exit code {proc.proc.returncode}) died in {name}")
                    break
        else:
            runner.not_run(names[1:], "numhubd did not start")
    finally:
        if bx.proxy is not None:
            bx.proxy.close()
        proc.kill()
        if len(runner.failed) > before:
            for _, err in proc.outputs:
                print(f"---- numhubd: last lines of {err}:\n{tail(err, 30)}", flush=True)
    return runner.finish()


if __name__ == "__main__":
    sys.exit(main())
