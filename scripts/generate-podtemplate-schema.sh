#!/usr/bin/env bash
# Regenerates receiver/k8s/podtemplate_schema.py from the k8s.io/api release pinned in tools/versions.env
# (tools/podtemplate-schema). Run after bumping K8S_VERSION; the result is committed.
# With --check, exits 1 if the committed file differs from what the pinned release gives.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
target="$root/receiver/k8s/podtemplate_schema.py"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-trimpath
generated=$(cd "$root/tools/podtemplate-schema" && go run .)
if [ "${1:-}" = "--check" ]; then
  if ! diff -u "$target" <(printf '%s\n' "$generated"); then
    echo "receiver/k8s/podtemplate_schema.py is stale: run scripts/generate-podtemplate-schema.sh" >&2
    exit 1
  fi
  exit 0
fi
printf '%s\n' "$generated" > "$target"
echo "wrote $target" >&2
