#!/usr/bin/env bash
# The one test command (README, .ci/run): type check, then every test file with node's runner.
# Browser tests need Debian's chromium; db tests also run against PostgreSQL when one is reachable.
set -euo pipefail
cd "$(dirname "$0")/.."
export NEXT_TELEMETRY_DISABLED=1

if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing chromium for the browser tests (Debian package)"
  apt-get update -q && apt-get install -y -q chromium
fi
if [ -z "${DATABASE_URL:-}" ] && command -v pg_isready >/dev/null 2>&1 && pg_isready -h 127.0.0.1 -p 5432 -q; then
  export DATABASE_URL="postgresql://postgres@127.0.0.1:5432/test"
fi

npx tsc --noEmit -p .
shopt -s nullglob globstar
files=(tests/unit/**/*.test.ts tests/oracle/**/*.test.ts tests/db/**/*.test.ts tests/reliability/**/*.test.ts tests/e2e/**/*.test.ts)
exec node --import tsx --test --test-concurrency=1 "${files[@]}"
