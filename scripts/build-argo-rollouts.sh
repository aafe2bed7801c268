#!/usr/bin/env bash
# Builds Argo Rollouts (the controller and the `kubectl argo rollouts` plugin) from the Go module pinned in
# tools/argorollouts into a cache directory outside the repo, keyed by version, and puts the upstream CRDs and
# the controller's ClusterRole next to them (read from the module, never copied into the repo).
# A complete cache is reused as is. Prints the cache directory on the last line of stdout.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=/dev/null
. "$root/tools/versions.env"

cache_root=${ROLLBACK_RECEIVER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rollback-receiver}
bin="$cache_root/argo-rollouts-${ARGO_ROLLOUTS_VERSION}"
module=github.com/argoproj/argo-rollouts
binaries=(rollouts-controller kubectl-argo-rollouts)
manifests=(crds.yaml controller-rbac.yaml)

say() { printf '[build-argo-rollouts] %s\n' "$*" >&2; }

complete() {
  for b in "${binaries[@]}"; do [ -x "$bin/$b" ] || return 1; done
  for m in "${manifests[@]}"; do [ -s "$bin/$m" ] || return 1; done
  [ -f "$bin/.complete" ]
}

if complete; then
  say "cache complete: $bin"
  echo "$bin"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  say "ERROR: Go is not installed (need Go >= 1.26 on PATH; tools/argorollouts/go.mod pins 'go 1.26.0')."
  exit 2
fi
gover=$(go env GOVERSION)
case "$gover" in
  go1.2[6-9]*|go1.[3-9]*) ;;
  *) say "ERROR: $gover is too old; tools/argorollouts/go.mod needs Go >= 1.26"; exit 2 ;;
esac

mkdir -p "$bin"
export CGO_ENABLED=0 GOFLAGS=-trimpath GOTOOLCHAIN=local
cd "$root/tools/argorollouts"

t0=$SECONDS
say "module download: ..."
if ! go mod download; then
  say "ERROR: module download failed; check the module proxy (GOPROXY=$(go env GOPROXY))."
  exit 3
fi
say "module download: done in $((SECONDS - t0))s"
src=$(go list -m -f '{{.Dir}}' "$module")

# The module's source is built from a scratch copy (the module cache is read-only and go build -overlay refuses
# files under it), through a temporary modfile that replaces the module with that copy; the committed go.mod
# and go.sum stay as they are. Two changes, nothing else differs from upstream:
# 1. The controller serves /metrics and /healthz on a hard-coded "0.0.0.0:%d" (controller/controller.go,
#    const listenAddr; v1.8.3 has no bind-address flag). The harness binds loopback only, so the one constant
#    becomes "127.0.0.1:%d". The build fails if that line is not found exactly once.
# 2. The plugin embeds the dashboard's web UI (server/static/*), which upstream builds with yarn and which is
#    not in the Go module; a one-page placeholder lets the plugin compile. Only `dashboard` would show it.
work=$(mktemp -d)
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
cp -r "$src" "$work/src"
chmod -R u+w "$work/src"
listen_line='^	listenAddr  *= "0.0.0.0:%d"$'
if [ "$(grep -c "$listen_line" "$work/src/controller/controller.go")" != 1 ]; then
  say "ERROR: $module $ARGO_ROLLOUTS_VERSION: controller/controller.go no longer has listenAddr = \"0.0.0.0:%d\"; revisit the patch"
  exit 4
fi
sed -i 's/^\(	listenAddr  *= \)"0.0.0.0:%d"$/\1"127.0.0.1:%d"/' "$work/src/controller/controller.go"
mkdir -p "$work/src/server/static"
printf '<!doctype html><title>Argo Rollouts</title><p>The dashboard UI is not part of this build.</p>\n' \
  > "$work/src/server/static/index.html"
cp go.mod "$work/go.mod"
cp go.sum "$work/go.sum"
go mod edit -replace="$module=$work/src" "$work/go.mod"

version_pkg=$module/utils/version
commit=$(go mod download -json "$module@$ARGO_ROLLOUTS_VERSION" | sed -n 's/.*"Hash": "\(.*\)",*/\1/p' | head -1)
ld="-s -w -X $version_pkg.version=${ARGO_ROLLOUTS_VERSION#v} -X $version_pkg.gitTag=$ARGO_ROLLOUTS_VERSION"
released=$(go list -m -f '{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}' "$module")
ld="$ld -X $version_pkg.gitCommit=${commit:-unknown} -X $version_pkg.gitTreeState=clean -X $version_pkg.buildDate=$released"

t1=$SECONDS
say "argo-rollouts $ARGO_ROLLOUTS_VERSION (rollouts-controller, kubectl-argo-rollouts): building ..."
# One go build for both mains shares their compilation.
if ! go build -modfile="$work/go.mod" -ldflags "$ld" -o "$bin/" \
  "$module/cmd/rollouts-controller" "$module/cmd/kubectl-argo-rollouts"; then
  say "ERROR: argo-rollouts failed to build."
  exit 3
fi
say "argo-rollouts: done in $((SECONDS - t1))s"

# The CRDs in upstream's kustomization order, and the controller's ClusterRole with its binding.
assemble() {
  local out=$1; shift
  : > "$out.tmp"
  for f in "$@"; do
    printf -- '---\n' >> "$out.tmp"
    cat "$f" >> "$out.tmp"
  done
  mv "$out.tmp" "$out"
}
crd_files=()
for f in $(sed -n 's/^- \(.*\.yaml\)$/\1/p' "$src/manifests/crds/kustomization.yaml"); do
  crd_files+=("$src/manifests/crds/$f")
done
assemble "$bin/crds.yaml" "${crd_files[@]}"
assemble "$bin/controller-rbac.yaml" "$src/manifests/role/argo-rollouts-clusterrole.yaml" \
  "$src/manifests/cluster-install/argo-rollouts-clusterrolebinding.yaml"

"$bin/rollouts-controller" --version >&2
touch "$bin/.complete"
say "cache complete: $bin"
echo "$bin"
