#!/usr/bin/env bash
# Regenerates tools/{k8sbins,etcdbin,kwokbin,argorollouts}/go.mod and go.sum from tools/versions.env.
# Run only to bump versions; the result is committed. Arguments name the modules to regenerate (default: all). The staging replace list is derived from the
# upstream k8s.io/kubernetes go.mod (every `=> ./staging/src/k8s.io/X` line), never typed by hand,
# because each minor adds staging modules (1.36 added streaming and cri-streaming).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=/dev/null
. "$here/versions.env"
export GOTOOLCHAIN=local GOFLAGS=-mod=mod

staging_minor="v0.${K8S_VERSION#v1.}"

gen_k8s() {
  local dir="$here/k8sbins"
  rm -rf "$dir" && mkdir -p "$dir" && cd "$dir"
  go mod init rollback-receiver/tools/k8sbins >/dev/null 2>&1
  go mod edit -go=1.26.0
  local upstream_mod
  upstream_mod=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')
  local mods
  mods=$(grep -E '=> \./staging/src/k8s\.io/' "$upstream_mod" | awk '{print $1}' | sort -u)
  for m in $mods; do
    go mod edit -replace="$m=$m@$staging_minor"
  done
  echo "k8sbins: $(echo "$mods" | wc -l) staging replaces at $staging_minor"
  for cmd in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
    go get -tool "k8s.io/kubernetes/cmd/$cmd@$K8S_VERSION"
  done
  go mod tidy
}

gen_simple() {
  local name=$1 module=$2 version=$3 tool=$4
  local dir="$here/$name"
  rm -rf "$dir" && mkdir -p "$dir" && cd "$dir"
  go mod init "rollback-receiver/tools/$name" >/dev/null 2>&1
  go mod edit -go=1.26.0
  go get -tool "$tool@$version"
  go mod tidy
  echo "$name: $module $version"
}

# A dependency's replace directives do not apply to the module that requires it, and argo-rollouts
# needs its own: it requires k8s.io/kubernetes, whose go.mod asks for the staging modules at v0.0.0. Every
# replace line of the upstream go.mod is copied (never typed by hand), so a version bump carries its list.
gen_argo_rollouts() {
  local dir="$here/argorollouts" module=github.com/argoproj/argo-rollouts
  rm -rf "$dir" && mkdir -p "$dir" && cd "$dir"
  go mod init rollback-receiver/tools/argorollouts >/dev/null 2>&1
  go mod edit -go=1.26.0
  local upstream_mod
  upstream_mod=$(go mod download -json "$module@$ARGO_ROLLOUTS_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')
  local replaces
  replaces=$(awk '
    /^replace \($/ { block = 1; next }
    block && /^\)$/ { block = 0; next }
    block && /=>/ { print; next }
    /^replace [^(]/ { sub(/^replace /, ""); print }
  ' "$upstream_mod" | awk '{
    split($0, side, "=>"); n = split(side[1], old, " "); split(side[2], new, " ")
    from = (n == 2) ? old[1] "@" old[2] : old[1]
    to = (new[2] != "") ? new[1] "@" new[2] : new[1]
    print from "=" to
  }')
  for r in $replaces; do go mod edit -replace="$r"; done
  echo "argorollouts: $(echo "$replaces" | wc -l) replaces copied from upstream"
  for cmd in rollouts-controller kubectl-argo-rollouts; do
    go get -tool "$module/cmd/$cmd@$ARGO_ROLLOUTS_VERSION"
  done
  go mod tidy
  echo "argorollouts: $module $ARGO_ROLLOUTS_VERSION"
}

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(k8sbins etcdbin kwokbin argorollouts)
for target in "${targets[@]}"; do
  case "$target" in
    k8sbins) gen_k8s ;;
    etcdbin) gen_simple etcdbin go.etcd.io/etcd/server/v3 "$ETCD_VERSION" go.etcd.io/etcd/server/v3 ;;
    kwokbin) gen_simple kwokbin sigs.k8s.io/kwok "$KWOK_VERSION" sigs.k8s.io/kwok/cmd/kwok ;;
    argorollouts) gen_argo_rollouts ;;
    *) echo "unknown module: $target (k8sbins, etcdbin, kwokbin, argorollouts)" >&2; exit 2 ;;
  esac
done
