#!/usr/bin/env bash
# Builds the container image from the repository's Dockerfile with podman, on a base made from Debian's own
# packages (mmdebstrap) and uv from PyPI, so no container registry is needed. Everything is cached outside
# the repo and keyed by content:
#   - the Debian base: by its recipe (suite, variant, packages, excludes), as a rootfs tarball in the cache
#     dir and as the podman image localhost/rollback-receiver-base:<key>;
#   - uv: by version (the one the Dockerfile's UV_IMAGE names), as localhost/rollback-receiver-uv:<version>;
#   - the image itself: by the build context the .dockerignore lets in, the Dockerfile and the two above,
#     as localhost/rollback-receiver:<version>-<key>. An existing tag is reused without building.
# Prints the image reference on the last line of stdout. Needs podman, runc and mmdebstrap (Debian
# bookworm; scripts/bootstrap.sh installs them) and root.
#
# The normal path (`docker build .` on python:3.11-slim-bookworm and ghcr.io/astral-sh/uv) takes the
# Dockerfile's defaults; this script changes only the build args PYTHON_IMAGE, PYTHON and UV_IMAGE.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
say() { printf '[build-image] %s\n' "$*" >&2; }

if [ "$(id -u)" != 0 ]; then
  say "ERROR: needs root: podman runs rootful here and mmdebstrap in its root mode"
  exit 2
fi
for tool in podman runc mmdebstrap uv; do
  if ! command -v "$tool" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$tool" ]; then
    say "ERROR: $tool is not installed. Run: bash scripts/bootstrap.sh (or: apt-get install -y --no-install-recommends podman runc mmdebstrap)"
    exit 2
  fi
done

cache_root=${ROLLBACK_RECEIVER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rollback-receiver}
cache="$cache_root/image"
mkdir -p "$cache"
# One build at a time per cache (test runs in parallel share it).
exec 9>"$cache/.lock"
flock 9

# Podman picks crun when it is installed, and crun refuses hybrid cgroup hierarchies; runc runs on both.
# Its default rlimits (nofile 1048576) exceed the hard limits of hosts that withhold CAP_SYS_RESOURCE, so
# the build's RUN steps get this host's hard nofile limit and a process limit that is ample for uv.
podman=(podman --runtime runc --cgroup-manager cgroupfs)
nofile=$(ulimit -Hn)
if [ "$nofile" = unlimited ] || [ "$nofile" -gt 1048576 ]; then nofile=1048576; fi
ulimits=(--ulimit "nofile=$nofile:$nofile" --ulimit "nproc=4096:4096")

have_image() { "${podman[@]}" image exists "$1"; }

# --- the Debian base --------------------------------------------------------------------------------------
# Debian bookworm's python3 is CPython 3.11, the project's version. The essential variant has no apt: the
# image never installs anything at run time. libstdc++6 is what python:*-slim has through apt and what the
# RE2 binding (google-re2) links against. Docs, man pages and translations are left out, as in the
# python:*-slim images.
suite=bookworm
base_recipe=(
  --variant=essential
  --include=python3,ca-certificates,libstdc++6
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr
  --dpkgopt='path-exclude=/usr/share/man/*'
  --dpkgopt='path-exclude=/usr/share/doc/*'
  --dpkgopt='path-include=/usr/share/doc/*/copyright'
  --dpkgopt='path-exclude=/usr/share/locale/*'
  --dpkgopt='path-exclude=/usr/share/info/*'
)
base_env=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8)
base_key=$(printf '%s\n' "$suite" "${base_recipe[@]}" "${base_env[@]}" | sha256sum | cut -c1-16)
base_dir="$cache/base-$suite-$base_key"
base_image="localhost/rollback-receiver-base:$suite-$base_key"
python=/usr/bin/python3.11

if [ ! -f "$base_dir/.complete" ]; then
  say "making the Debian $suite base with mmdebstrap (about a minute)"
  rm -rf "$base_dir" && mkdir -p "$base_dir"
  t0=$SECONDS
  if ! mmdebstrap "${base_recipe[@]}" "$suite" "$base_dir/rootfs.tar" >"$base_dir/mmdebstrap.log" 2>&1; then
    tail -n 30 "$base_dir/mmdebstrap.log" >&2
    say "ERROR: mmdebstrap failed (log: $base_dir/mmdebstrap.log); it needs root and Debian's package mirror"
    exit 3
  fi
  sha256sum "$base_dir/rootfs.tar" | cut -d' ' -f1 >"$base_dir/rootfs.sha256"
  touch "$base_dir/.complete"
  say "base made in $((SECONDS - t0))s: $base_dir/rootfs.tar"
fi
if ! have_image "$base_image"; then
  changes=()
  for kv in "${base_env[@]}"; do changes+=(--change "ENV $kv"); done
  "${podman[@]}" import --quiet "${changes[@]}" "$base_dir/rootfs.tar" "$base_image" >/dev/null
fi

# --- uv, from its PyPI wheel ------------------------------------------------------------------------------
uv_version=$(sed -n 's/^ARG UV_IMAGE=.*uv:\([0-9][0-9.]*\)$/\1/p' Dockerfile)
[ -n "$uv_version" ] || { say "ERROR: cannot read uv's version from the Dockerfile's ARG UV_IMAGE"; exit 2; }
uv_dir="$cache/uv-$uv_version"
uv_image="localhost/rollback-receiver-uv:$uv_version"
if [ ! -f "$uv_dir/.complete" ]; then
  say "fetching uv $uv_version from PyPI"
  rm -rf "$uv_dir" && mkdir -p "$uv_dir"
  uv pip install --quiet --no-deps --no-cache --target "$uv_dir/wheel" "uv==$uv_version"
  mkdir "$uv_dir/root" && cp "$uv_dir/wheel/bin/uv" "$uv_dir/root/uv"
  chmod 0755 "$uv_dir/root/uv"
  # The same layout as the uv image on ghcr.io: the binary at /uv.
  tar --create --file "$uv_dir/uv.tar" --directory "$uv_dir/root" --owner=0 --group=0 --numeric-owner uv
  touch "$uv_dir/.complete"
fi
if ! have_image "$uv_image"; then
  "${podman[@]}" import --quiet "$uv_dir/uv.tar" "$uv_image" >/dev/null
fi

# --- the image --------------------------------------------------------------------------------------------
# The key covers what the build can see: the files .dockerignore lets in (its `!` lines; bytecode is
# ignored there too), the Dockerfile, .dockerignore itself, and the two base images.
mapfile -t allowed < <(sed -n 's|^!\(.*\)$|\1|p' .dockerignore | sed 's|/$||')
context_key=$(
  {
    printf '%s\n' "$base_image" "$python" "$uv_image"
    find Dockerfile .dockerignore "${allowed[@]}" -type f ! -name '*.pyc' ! -path '*/__pycache__/*' -print0 \
      | LC_ALL=C sort -z | xargs -0 sha256sum
  } | sha256sum | cut -c1-16
)
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' pyproject.toml | head -1)
image="localhost/rollback-receiver:$version-$context_key"

if have_image "$image"; then
  say "image up to date: $image"
else
  # A build host that reaches PyPI through a TLS-inspecting proxy names its CA bundle in SSL_CERT_FILE; the
  # build's RUN steps then see that bundle as the system store, and uv is told to use the system store.
  # Both are bind mounts of the RUN steps only, never part of a layer.
  tls=()
  if [ -n "${SSL_CERT_FILE:-}" ] && [ -f "$SSL_CERT_FILE" ]; then
    printf 'system-certs = true\n' >"$cache/uv-system-certs.toml"
    tls=(--volume "$SSL_CERT_FILE:/etc/ssl/certs/ca-certificates.crt:ro"
         --volume "$cache/uv-system-certs.toml:/etc/uv/uv.toml:ro")
  fi
  say "building $image"
  t0=$SECONDS
  if ! "${podman[@]}" build --network host "${ulimits[@]}" "${tls[@]}" \
    --build-arg "PYTHON_IMAGE=$base_image" \
    --build-arg "PYTHON=$python" \
    --build-arg "UV_IMAGE=$uv_image" \
    --tag "$image" . >"$cache/build.log" 2>&1; then
    tail -n 30 "$cache/build.log" >&2
    say "ERROR: podman build failed (log: $cache/build.log)"
    exit 3
  fi
  say "built in $((SECONDS - t0))s"
fi
echo "$image"
