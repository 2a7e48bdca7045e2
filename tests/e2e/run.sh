#!/usr/bin/env bash
# End-to-end tests of the numhub binaries with an independent Python gRPC client.
#
#   bash tests/e2e/run.sh [-k SUBSTRING] [--keep]
#
# Creates (or reuses) a venv at target/e2e-venv, installs tests/e2e/requirements.txt,
# generates Python stubs from proto/**/*.proto into target/e2e-gen (the
# rentals contract included), builds numhub-accounts, numhub-wallet,
# numhub-catalog, numhub-rentals, numhub-orders, numhub-inbound, numhubd and
# the numhub CLI, and runs, each against the binaries started as separate
# processes (every deployment with orders or inbound runs numhub-rentals too,
# and points them at it with NUMHUB_RENTALS_ADDR):
#   tests/e2e/test_auth.py    accounts, API keys, scopes, rate limits, revocation,
#                             service credentials, secrets kept out of the logs
#   tests/e2e/test_wallet.py  the wallet's money movements and reads on its three
#                             surfaces, shutdown and restart, SQLite and PostgreSQL
#   tests/e2e/test_catalog.py the catalog's seed, prices, inventory and leases
#                             (idempotency, quarantine, skips, concurrency, stock
#                             counters, Resolve) on PostgreSQL and SQLite
#   tests/e2e/test_orders.py  orders (activations) with accounts, wallet and
#                             catalog behind it: buy, charge, SMS delivery and
#                             codes, live streams (WatchActivation,
#                             WatchMessages and their cursors), cancel / skip /
#                             reuse / complete, refunds, expiry by the worker,
#                             idempotency, refusals, limits, SIGTERM with a
#                             stream open and restart, on PostgreSQL and SQLite
#                             (about 2 minutes of it waits for an expiry)
#   tests/e2e/test_inbound.py the whole SMS loop: numhubd alone on SQLite with
#                             its demo, simulated SIM bank and the numhub CLI
#                             (buy --wait prints the code; restart); and the
#                             five services apart on PostgreSQL: Deliver ->
#                             routing -> the activation's stream, expiry and
#                             cancel refunds, duplicates delivered once,
#                             unrouted SMS kept for the operator, the Twilio
#                             webhook's signature, content type, limits and
#                             body timeout, orders and inbound
#                             restarted mid-flow (about 1 minute of it waits
#                             for an expiry)
#   tests/e2e/test_rentals.py rentals with accounts, wallet, catalog, orders and
#                             inbound around it, on PostgreSQL and SQLite:
#                             CreateRental's charge, idempotency and refusals,
#                             SMS through inbound's Deliver to WatchRental,
#                             orders' WatchMessages, GetRental's inbox and
#                             ListMessages polling, per-service rentals
#                             (OTHER_SERVICE kept unrouted), other accounts'
#                             ids, RenewRental at the current price, max_price
#                             on both (zero refused, a dearer price refused
#                             with nothing charged), cancel with and without
#                             refund (and the refund window),
#                             auto-renew settings, auto-renew, its failure and
#                             expiry by the workers (on a stored expiry the
#                             suite moves forward: no setting makes a fresh
#                             rental due), SIGTERM with streams open and
#                             restart, health, reflection and access rules
#   tests/e2e/test_openapi.py the HTTP gateway's OpenAPI document fuzzed by
#                             schemathesis against numhubd (no 5xx, every
#                             answer as documented), SQLite and PostgreSQL
#   tests/e2e/test_sms_activate.py
#                             the SMS-Activate protocol at the gateway's
#                             /stubs/handler_api.php with unmodified PyPI
#                             clients (the official smsactivate, reached
#                             through a local TLS proxy as its fixed URL
#                             requires, and herosms at its base_url) against
#                             numhubd alone on SQLite: buy, codes, another
#                             SMS, complete, cancel, balance, prices and a
#                             rental, money checked exactly
#   tests/e2e/test_hostile.py every RPC of every contract, each string field in
#                             turn set to 100 KiB: refused with a clear error that
#                             does not echo the input (six binaries on SQLite)
# Every suite gets --accounts-binary, --wallet-binary, --catalog-binary,
# --rentals-binary, --orders-binary, --inbound-binary, --numhubd-binary and
# --cli-binary (each uses those it needs). Extra arguments are passed to
# every suite. The last line printed is "N passed, M failed" (summed over the
# suites); the exit code is non-zero on any failure.
# E2E_STRICT=1 also fails the known deviations from the contract that the suites
# otherwise report without failing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

VENV="$ROOT/target/e2e-venv"
GEN="$ROOT/target/e2e-gen"
PYTHON="${E2E_PYTHON:-python3}"
BIN_DIR="${CARGO_TARGET_DIR:-$ROOT/target}/debug"
ACCOUNTS_BIN="$BIN_DIR/numhub-accounts"
WALLET_BIN="$BIN_DIR/numhub-wallet"
CATALOG_BIN="$BIN_DIR/numhub-catalog"
ORDERS_BIN="$BIN_DIR/numhub-orders"
INBOUND_BIN="$BIN_DIR/numhub-inbound"
RENTALS_BIN="$BIN_DIR/numhub-rentals"
NUMHUBD_BIN="$BIN_DIR/numhubd"
CLI_BIN="$BIN_DIR/numhub"

setup_failed() {
  echo "e2e setup failed: $*" >&2
  echo "0 passed, 1 failed"
  exit 1
}

echo "== e2e: python venv ($VENV)"
if [[ ! -x "$VENV/bin/python" ]]; then
  "$PYTHON" -m venv "$VENV" || setup_failed "could not create a venv with $PYTHON"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r tests/e2e/requirements.txt \
  || setup_failed "pip install -r tests/e2e/requirements.txt"

echo "== e2e: generating Python stubs into $GEN"
rm -rf "$GEN"
mkdir -p "$GEN"
PROTO_INCLUDE="$("$VENV/bin/python" -c 'import grpc_tools, os; print(os.path.join(os.path.dirname(grpc_tools.__file__), "_proto"))')" \
  || setup_failed "grpc_tools is not importable"
mapfile -t PROTOS < <(find proto -name '*.proto' | sort)
[[ ${#PROTOS[@]} -gt 0 ]] || setup_failed "no .proto files under proto/"
"$VENV/bin/python" -m grpc_tools.protoc -Iproto -I"$PROTO_INCLUDE" \
  --python_out="$GEN" --pyi_out="$GEN" --grpc_python_out="$GEN" "${PROTOS[@]}" \
  || setup_failed "grpc_tools.protoc"

PACKAGES=(numhub-accounts numhub-wallet numhub-catalog numhub-rentals numhub-orders numhub-inbound numhubd numhub-cli)
BINS=(numhub-accounts numhub-wallet numhub-catalog numhub-rentals numhub-orders numhub-inbound numhubd numhub)
echo "== e2e: cargo build ${PACKAGES[*]/#/-p }"
cargo build "${PACKAGES[@]/#/-p}" "${BINS[@]/#/--bin=}" \
  || setup_failed "cargo build ${PACKAGES[*]/#/-p }"
for bin in "$ACCOUNTS_BIN" "$WALLET_BIN" "$CATALOG_BIN" "$RENTALS_BIN" "$ORDERS_BIN" "$INBOUND_BIN" "$NUMHUBD_BIN" \
  "$CLI_BIN"; do
  [[ -x "$bin" ]] || setup_failed "$bin was not built"
done

OUT="$(mktemp)"
trap 'rm -f "$OUT"' EXIT
total_passed=0
total_failed=0
status=0
SECONDS=0
for suite in test_auth.py test_wallet.py test_catalog.py test_orders.py test_inbound.py test_rentals.py \
  test_sms_activate.py test_hostile.py test_openapi.py; do
  echo
  echo "== e2e: tests/e2e/$suite"
  set +e
  "$VENV/bin/python" -u "tests/e2e/$suite" --accounts-binary "$ACCOUNTS_BIN" --wallet-binary "$WALLET_BIN" \
    --catalog-binary "$CATALOG_BIN" --rentals-binary "$RENTALS_BIN" --orders-binary "$ORDERS_BIN" \
    --inbound-binary "$INBOUND_BIN" \
    --numhubd-binary "$NUMHUBD_BIN" --cli-binary "$CLI_BIN" --gen "$GEN" "$@" 2>&1 | tee "$OUT"
  rc=${PIPESTATUS[0]}
  set -e
  summary="$(tail -n 1 "$OUT")"
  if [[ "$summary" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
    total_passed=$((total_passed + BASH_REMATCH[1]))
    total_failed=$((total_failed + BASH_REMATCH[2]))
    if [[ $rc -ne 0 && ${BASH_REMATCH[2]} -eq 0 ]]; then
      echo "$suite exited with code $rc after reporting no failure" >&2
      total_failed=$((total_failed + 1))
    fi
  else
    echo "$suite ended without a summary (exit code $rc)" >&2
    total_failed=$((total_failed + 1))
  fi
  [[ $rc -eq 0 ]] || status=1
done

echo
echo "== e2e: the suites took ${SECONDS}s"
[[ $total_failed -eq 0 ]] || status=1
echo "$total_passed passed, $total_failed failed"
exit "$status"
