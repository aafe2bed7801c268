#!/usr/bin/env bash
# Builds the real control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl,
# kwok) from the Go modules pinned in tools/ into a cache directory outside the repo, keyed by version.
# A complete cache is reused as is. Prints the cache directory on the last line of stdout.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=/dev/null
. "$root/tools/versions.env"

cache_root=${ROLLBACK_RECEIVER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rollback-receiver}
bin="$cache_root/k8s-${K8S_VERSION}_etcd-${ETCD_VERSION}_kwok-${KWOK_VERSION}"
binaries=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok)

say() { printf '[build-control-plane] %s\n' "$*" >&2; }

complete() {
  for b in "${binaries[@]}"; do [ -x "$bin/$b" ] || return 1; done
  [ -s "$bin/kwok-stages.yaml" ] && [ -f "$bin/.complete" ]
}

if complete; then
  say "cache complete: $bin"
  echo "$bin"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  say "ERROR: Go is not installed (need Go >= 1.26 on PATH; tools/*/go.mod pin 'go 1.26.0')."
  exit 2
fi
gover=$(go env GOVERSION)
case "$gover" in
  go1.2[6-9]*|go1.[3-9]*) ;;
  *) say "ERROR: $gover is too old; tools/*/go.mod need Go >= 1.26"; exit 2 ;;
esac

mkdir -p "$bin"
export CGO_ENABLED=0 GOFLAGS=-trimpath GOTOOLCHAIN=local
minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
ld="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ld="$ld -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
done

step() {
  local name=$1; shift
  local t0=$SECONDS
  say "$name: building ..."
  if ! "$@"; then
    say "ERROR: $name failed to build. If the module proxy is unreachable, 'go mod download' in tools/ shows why (GOPROXY=$(go env GOPROXY))."
    exit 3
  fi
  say "$name: done in $((SECONDS - t0))s"
}

download() { (cd "$root/tools/$1" && go mod download); }
step "module download (k8sbins)" download k8sbins
step "module download (etcdbin)" download etcdbin
step "module download (kwokbin)" download kwokbin

step "etcd $ETCD_VERSION" bash -c "cd '$root/tools/etcdbin' && go build -ldflags '-s -w' -o '$bin/etcd' go.etcd.io/etcd/server/v3"
step "kwok $KWOK_VERSION" bash -c "cd '$root/tools/kwokbin' && go build -ldflags '-s -w' -o '$bin/kwok' sigs.k8s.io/kwok/cmd/kwok"
# One go build for all four mains shares their compilation.
step "kubernetes $K8S_VERSION (apiserver, controller-manager, scheduler, kubectl)" bash -c "cd '$root/tools/k8sbins' && go build -ldflags '$ld' -o '$bin/' k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl"

# kwok needs Stage objects to act; take the upstream "fast" stages from the module cache.
kwok_dir=$(cd "$root/tools/kwokbin" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)
stages="$bin/kwok-stages.yaml.tmp"
: > "$stages"
for f in "$kwok_dir"/kustomize/stage/node/fast/*.yaml "$kwok_dir"/kustomize/stage/node/heartbeat-with-lease/*.yaml "$kwok_dir"/kustomize/stage/pod/fast/*.yaml; do
  case "$(basename "$f")" in kustomization.yaml) continue ;; esac
  printf -- '---\n' >> "$stages"
  cat "$f" >> "$stages"
done
mv "$stages" "$bin/kwok-stages.yaml"

"$bin/kube-apiserver" --version >&2
# Its first line only, without a pipe: `| head -1` closing early killed etcd with SIGPIPE (exit 141),
# which pipefail turned into a failed bootstrap.
etcd_version=$("$bin/etcd" --version)
echo "${etcd_version%%$'\n'*}" >&2
touch "$bin/.complete"
say "cache complete: $bin"
echo "$bin"
