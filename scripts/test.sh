#!/usr/bin/env bash
# `npm test`: installs the test tools this project needs (idempotent), then runs every suite on
# the embedded SQLite database, in a fresh data folder. Prints `N passed, N failed` at the end.
#   SUITES="unit functional" DB_CONNECTION=pg npm test   # a subset, on PostgreSQL
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-test-tools.sh || { echo "test tools could not be installed"; exit 1; }
[ -d node_modules ] || npm ci

export NODE_ENV=test
export HOST="${TEST_HOST:-127.0.0.1}" PORT="${TEST_PORT:-3334}"
export DB_CONNECTION="${DB_CONNECTION:-sqlite}"
export DATA_DIR="${DATA_DIR:-tmp/test-$DB_CONNECTION}"
rm -rf "$DATA_DIR"
mkdir -p "$DATA_DIR"
export PKI_MASTER_KEY_FILE="$DATA_DIR/master.key"
# The example third-party plugin (examples/pki-plugin-example, a file: devDependency) is
# installed in every test server, spawned ones included; the plugin tests enable, disable and break it.
export PKI_PLUGINS="${PKI_PLUGINS:-pki-plugin-example}"
if [ "$DB_CONNECTION" = pg ]; then
  export DB_HOST="${DB_HOST:-127.0.0.1}" DB_PORT="${DB_PORT:-5432}" DB_USER="${DB_USER:-postgres}"
  export DB_DATABASE="${DB_DATABASE:-pki_test}"
  node scripts/pg-reset.mjs "$DB_DATABASE" || exit 1
fi

summary_file="${TEST_SUMMARY_FILE:-}"
own_summary=0
if [ -z "$summary_file" ]; then
  summary_file=$(mktemp)
  own_summary=1
fi
export TEST_SUMMARY_FILE="$summary_file"

status=0

# Static checks count as tests in the full run: strict type check, then ESLint (with Prettier).
check() {
  local name="$1"; shift
  if "$@"; then
    echo "✔ $name"; echo "1 0 0" >> "$summary_file"
  else
    echo "✖ $name"; echo "0 1 0" >> "$summary_file"; status=1
  fi
}
if [ -z "${SUITES:-}" ] && [ $# -eq 0 ]; then
  check "typecheck (tsc --noEmit)" npx tsc --noEmit -p tsconfig.json
  check "lint (eslint + prettier)" npx eslint . --max-warnings 0 --no-warn-ignored
  # The signer and X.509 layers on Node 24 too (native ML-DSA / SLH-DSA there).
  check "hsm and pki unit suites on Node 24" .tools/bin/node24 --import=ts-node-maintained/register/esm \
    scripts/japa_unit.ts --files tests/unit/hsm/ --files tests/unit/pki/
fi

before=$(wc -l < "$summary_file")
node ace test ${SUITES:-} "$@" || status=$?
after=$(wc -l < "$summary_file")
if [ "$after" -eq "$before" ]; then
  echo "the test runner ended without reporting results" >&2
  echo "0 0 0" >> "$summary_file"
  echo "0 1 0" >> "$summary_file"
  status=1
fi

if [ "$own_summary" = 1 ]; then
  awk '{p+=$1; f+=$2; s+=$3} END {printf "%d passed, %d failed\n", p, f}' "$summary_file"
  rm -f "$summary_file"
fi
exit $status
