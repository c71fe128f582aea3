#!/usr/bin/env bash
# The one test command (README, .ci/run): type check, then every test file with node's runner.
set -euo pipefail
cd "$(dirname "$0")/.."
npx tsc --noEmit -p .
shopt -s nullglob globstar
files=(tests/unit/**/*.test.ts tests/oracle/**/*.test.ts tests/db/**/*.test.ts tests/e2e/**/*.test.ts)
exec node --import tsx --test --test-concurrency=1 "${files[@]}"
