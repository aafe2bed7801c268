#!/usr/bin/env bash
# Installs everything the tests and the demo need, idempotently:
# Debian packages (Alertmanager, Prometheus; podman, runc and mmdebstrap for the image test; Chromium and a
# font for the incident pages), uv and the locked Python environment, the control plane built from tools/
# into the cache outside the repo, and Argo Rollouts (controller, plugin, CRDs) beside it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
say() { printf '[bootstrap] %s\n' "$*" >&2; }

need_pkgs=()
command -v prometheus-alertmanager >/dev/null 2>&1 || need_pkgs+=(prometheus-alertmanager)
command -v prometheus >/dev/null 2>&1 || need_pkgs+=(prometheus)
# The image test builds and runs the image (scripts/build-image.sh). runc, not crun: crun refuses hybrid
# cgroup hierarchies. Rootful with the host's network, so no uidmap/slirp4netns.
command -v podman >/dev/null 2>&1 || need_pkgs+=(podman)
[ -x /usr/sbin/runc ] || command -v runc >/dev/null 2>&1 || need_pkgs+=(runc)
command -v mmdebstrap >/dev/null 2>&1 || need_pkgs+=(mmdebstrap)
# The incident pages are tested in real headless Chromium (harness/chromium.py), with a font to draw text.
[ -x /usr/bin/chromium ] || need_pkgs+=(chromium)
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need_pkgs+=(fonts-dejavu-core)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  say "installing Debian packages: ${need_pkgs[*]}"
  # Keep the packages' services from starting (they would bind 0.0.0.0); the tests start their own.
  policy=/usr/sbin/policy-rc.d
  created_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null && $sudo chmod +x "$policy" && created_policy=1
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
  [ "$created_policy" = 1 ] && $sudo rm -f "$policy"
  # On a systemd host the units are still enabled for the next boot; the tests never use them.
  if [ -d /run/systemd/system ]; then
    $sudo systemctl disable --now prometheus.service prometheus-alertmanager.service >/dev/null 2>&1 || true
  fi
fi

if ! command -v uv >/dev/null 2>&1; then
  say "installing uv"
  python3 -m pip install --quiet 'uv==0.13.8'
fi
uv sync --frozen --quiet

bash scripts/build-control-plane.sh >/dev/null
bash scripts/build-argo-rollouts.sh >/dev/null
say "ready"
