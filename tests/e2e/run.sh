#!/usr/bin/env bash
# End-to-end tests of the wallet binary with an independent Python gRPC client.
#
#   bash tests/e2e/run.sh [-k SUBSTRING] [--keep]
#
# Creates (or reuses) a venv at target/e2e-venv, installs tests/e2e/requirements.txt,
# generates Python stubs from proto/**/*.proto into target/e2e-gen, builds
# numhub-wallet, and runs tests/e2e/test_wallet.py against the binary. The last
# line printed is "N passed, M failed"; the exit code is non-zero on any failure.
# Extra arguments are passed to test_wallet.py.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

VENV="$ROOT/target/e2e-venv"
GEN="$ROOT/target/e2e-gen"
PYTHON="${E2E_PYTHON:-python3}"
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug/numhub-wallet"

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

echo "== e2e: cargo build -p numhub-wallet --bin numhub-wallet"
cargo build -p numhub-wallet --bin numhub-wallet || setup_failed "cargo build -p numhub-wallet"
[[ -x "$BIN" ]] || setup_failed "$BIN was not built"

echo "== e2e: tests/e2e/test_wallet.py"
OUT="$(mktemp)"
trap 'rm -f "$OUT"' EXIT
set +e
"$VENV/bin/python" -u tests/e2e/test_wallet.py --binary "$BIN" --gen "$GEN" "$@" 2>&1 | tee "$OUT"
rc=${PIPESTATUS[0]}
set -e
if ! tail -n 1 "$OUT" | grep -Eq '^[0-9]+ passed, [0-9]+ failed$'; then
  echo "test_wallet.py ended without a summary (exit code $rc)" >&2
  echo "0 passed, 1 failed"
  exit 1
fi
exit "$rc"
