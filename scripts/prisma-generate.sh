#!/usr/bin/env bash
# Generates the Prisma client into lib/store/generated (gitignored) without network.
# The Prisma CLI wants a native schema engine before `generate`, which it would download;
# generation itself does not use it, so an existing stub executable (exits 1) satisfies the check.
# With network a user can drop PRISMA_SCHEMA_ENGINE_BINARY and use the CLI normally.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${PRISMA_SCHEMA_ENGINE_BINARY:-}" ]; then
  stub_dir="$(mktemp -d)"
  trap 'rm -rf "$stub_dir"' EXIT
  printf '#!/bin/sh\nexit 1\n' > "$stub_dir/schema-engine"
  chmod +x "$stub_dir/schema-engine"
  export PRISMA_SCHEMA_ENGINE_BINARY="$stub_dir/schema-engine"
fi
export PRISMA_HIDE_UPDATE_MESSAGE=1 CHECKPOINT_DISABLE=1
exec npx prisma generate --schema prisma/schema.prisma "$@"
