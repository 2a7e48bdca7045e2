"""The HTTP gateway's OpenAPI document, fuzzed with schemathesis.

numhubd is started as an operator runs it (its demo catalog, on SQLite, and
on PostgreSQL with a fresh database), a customer with money and a roomy
quota is made through the operator's gRPC calls, and schemathesis (PyPI)
runs every phase (examples, coverage, fuzzing, stateful) against the served
`/v1/openapi.json` with the customer's key. Its checks: no 5xx, every
answer's status code, content type, headers and body as documented, and
the negative-data checks (a request the schema forbids is refused with a
4xx). One check is left out, `positive_data_acceptance`: cursors and ids
are opaque and signed, so a schema-valid random one is rightly refused.

  python tests/e2e/test_openapi.py [--numhubd-binary PATH] [-k sqlite|postgres]

E2E_SCHEMATHESIS_EXAMPLES (default 15) sets hypothesis' examples per
operation and phase, E2E_SCHEMATHESIS_SEED (default 1) its seed, and
E2E_SCHEMATHESIS_MAX_TIME (default 150 s) the time each backend's run may
take, so CI's short seeded run stays short. The long run:
E2E_SCHEMATHESIS_EXAMPLES=200 E2E_SCHEMATHESIS_MAX_TIME=3600.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request

from e2e_common import (  # noqa: E402
    ARGS, A, W, FreshDatabases, Proc, Runner, check, free_ports, generate_key, money, ok, postgres_unreachable,
    rid, service_credential, tail, bearer,
)
from numhub.accounts.v1 import accounts_pb2_grpc  # noqa: E402
from numhub.wallet.v1 import wallet_pb2_grpc  # noqa: E402

EXAMPLES = int(os.environ.get("E2E_SCHEMATHESIS_EXAMPLES", "15"))
SEED = os.environ.get("E2E_SCHEMATHESIS_SEED", "1")
# The whole run's limit per backend: schemathesis stops generating then.
MAX_TIME = int(os.environ.get("E2E_SCHEMATHESIS_MAX_TIME", "150"))
ST = os.path.join(os.path.dirname(sys.executable), "st")


def customer(proc: Proc, admin_key: str) -> str:
    """A customer with USD 1,000.00, read and write scopes and a quota
    schemathesis will not reach."""
    md = bearer(admin_key)
    accounts = proc.stub(accounts_pb2_grpc.AccountsAdminServiceStub)
    account = ok("CreateAccount", lambda r, timeout: accounts.CreateAccount(r, metadata=md, timeout=timeout),
                 A.CreateAccountRequest(display_name="schemathesis", request_id=rid(),
                                        rate_limits=A.RateLimits(requests_per_minute=1_000_000,
                                                                 money_requests_per_minute=1_000_000)))
    key = ok("CreateAccountApiKey", lambda r, timeout: accounts.CreateAccountApiKey(r, metadata=md, timeout=timeout),
             A.CreateAccountApiKeyRequest(account_id=account.id, name="schemathesis",
                                          scopes=[1, 2]))
    wallet = proc.stub(wallet_pb2_grpc.WalletAdminServiceStub)
    ok("Credit", lambda r, timeout: wallet.Credit(r, metadata=md, timeout=timeout),
       W.CreditRequest(account_id=account.id, amount=money(100_000, "USD"), request_id=rid(), reason="e2e"))
    return key.secret


def t_schemathesis(proc: Proc, admin_key: str, http_addr: str, workdir: str) -> None:
    key = customer(proc, admin_key)
    url = f"http://{http_addr}/v1/openapi.json"
    with urllib.request.urlopen(url, timeout=10) as r:
        document = json.load(r)
    check(document.get("openapi", "").startswith("3.1"), f"not OpenAPI 3.1: {document.get('openapi')!r}")
    report = os.path.join(workdir, "schemathesis.xml")
    args = [ST, "run", url, "-H", f"Authorization: Bearer {key}", "--checks", "all",
            "--exclude-checks", "positive_data_acceptance", "--max-examples", str(EXAMPLES), "--seed", SEED,
            "--max-time", str(MAX_TIME), "--report", "junit", "--report-junit-path", report, "--no-color"]
    t0 = time.monotonic()
    p = subprocess.run(args, cwd=workdir, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=MAX_TIME + 300)
    out = p.stdout + p.stderr
    summary = [line for line in out.splitlines() if "generated" in line or "passed" in line]
    print(f"     (schemathesis: {time.monotonic() - t0:.0f}s; {' / '.join(summary[-2:])})", flush=True)
    check(p.returncode == 0, f"schemathesis found failures (exit {p.returncode}):\n{out[-6000:]}")
    check(proc.running(), f"numhubd died under schemathesis:\n{tail(proc.err_path)}")


def scenario(runner: Runner, backend: str) -> None:
    name = f"{backend}/schemathesis"
    if not runner.wanted(name):
        return
    if backend == "postgres":
        why = postgres_unreachable()
        if why:
            runner.fail(name, f"PostgreSQL is required: {why}")
            return
    workdir = runner.workdir(f"openapi-{backend}")
    grpc_port, http_port = free_ports(2)
    admin_key = generate_key()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "NUMHUB_LISTEN_ADDR": f"127.0.0.1:{grpc_port}",
        "NUMHUB_GATEWAY_HTTP_ADDR": f"127.0.0.1:{http_port}",
        "NUMHUB_METRICS_ADDR": "off",
        "NUMHUB_DATA_DIR": os.path.join(workdir, "data"),
        "NUMHUB_ADMIN_KEY": admin_key,
        "NUMHUB_SERVICE_CREDENTIAL": service_credential(),
        "NUMHUB_SIMULATOR": "false",
        "NUMHUB_LOG": "warn",
    }
    databases = FreshDatabases("numhubd") if backend == "postgres" else None
    try:
        if databases:
            databases.__enter__()
            env["NUMHUB_DATABASE_URL"] = databases.url("numhubd")
        proc = Proc(ARGS.numhubd_binary, f"numhubd-{backend}", workdir, env, f"127.0.0.1:{grpc_port}")
        proc.start()
        try:
            runner.run(name, t_schemathesis, proc, admin_key, f"127.0.0.1:{http_port}", workdir, force=True)
        finally:
            proc.stop()
    finally:
        if databases:
            databases.__exit__(None, None, None)


def main() -> int:
    runner = Runner("test_openapi.py")
    if runner.binaries_ok((ARGS.numhubd_binary,)):
        for backend in ("sqlite", "postgres"):
            scenario(runner, backend)
    return runner.finish()


if __name__ == "__main__":
    sys.exit(main())
