#!/usr/bin/env bash
# scripts/build-image.sh: build the approver image (deploy/Containerfile, FROM scratch) around the
# single executable dist/kpki, with docker, podman or buildah, pulling nothing.
#
# Usage:  scripts/build-image.sh [options] [TAG]            (npm run build:image -- [options] [TAG])
#   TAG                   the image name (default: kpki:VERSION, VERSION from package.json)
#   --tool NAME           docker, podman or buildah (default: $KPKI_IMAGE_TOOL, else the first of
#                         docker (only if its daemon answers), podman, buildah)
#   --binary FILE         the executable (default: dist/kpki; `npm run build:binary` makes it)
#   --oci-archive FILE    also save the image as an OCI archive (docker: a docker-archive), which
#                         `ctr -n k8s.io images import FILE` and `podman load -i FILE` read
#   --keep-context DIR    stage the build context in DIR and keep it (default: a temporary folder);
#                         DIR must be new, empty, or a context this script staged before
#
# podman and buildah take their storage from containers-storage.conf(5) and the rest from
# containers.conf(5); to keep images away from /var/lib/containers, point CONTAINERS_STORAGE_CONF
# (and CONTAINERS_CONF) at files of your own, for example
#   [storage]                                   [network]
#   driver = "vfs"                              network_config_dir = "/tmp/x/cni"
#   graphroot = "/tmp/x/root"                   [engine]
#   runroot = "/tmp/x/run"                      tmp_dir = "/tmp/x/tmp"
#
# The build context holds the executable, the libraries `ldd` names for it (each copied, links
# dereferenced, to the path ldd prints), the CA bundle and /etc/passwd and /etc/group lines for
# uid/gid 65532. The executable is copied byte for byte: stripping it would drop the SEA blob.
# Prints the image's size and the executable's size on the last two lines.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
die() { printf 'build-image: ERROR: %s\n' "$*" >&2; exit 1; }
log() { printf 'build-image: %s\n' "$*" >&2; }

TOOL=${KPKI_IMAGE_TOOL:-}
BINARY=$ROOT/dist/kpki
ARCHIVE=
KEEP=
TAG=
while [ $# -gt 0 ]; do
  case $1 in
    --tool) TOOL=${2:?--tool needs a value}; shift 2 ;;
    --tool=*) TOOL=${1#*=}; shift ;;
    --binary) BINARY=${2:?--binary needs a value}; shift 2 ;;
    --binary=*) BINARY=${1#*=}; shift ;;
    --oci-archive) ARCHIVE=${2:?--oci-archive needs a value}; shift 2 ;;
    --oci-archive=*) ARCHIVE=${1#*=}; shift ;;
    --keep-context) KEEP=${2:?--keep-context needs a value}; shift 2 ;;
    --keep-context=*) KEEP=${1#*=}; shift ;;
    -h|--help) sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) [ -z "$TAG" ] || die "more than one TAG: $TAG, $1"; TAG=$1; shift ;;
  esac
done

VERSION=$(sed -n 's/^  "version": "\([^"]*\)".*/\1/p' "$ROOT/package.json" | head -n 1)
TAG=${TAG:-kpki:${VERSION:-latest}}

[ -f "$BINARY" ] || die "no executable at $BINARY (run: npm run build:binary)"
[ -x "$BINARY" ] || die "$BINARY is not executable"
"$BINARY" --help >/dev/null 2>&1 || die "$BINARY does not run here (\`$BINARY --help\` failed)"

if [ -z "$TOOL" ]; then
  if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then TOOL=docker
  elif command -v podman >/dev/null 2>&1; then TOOL=podman
  elif command -v buildah >/dev/null 2>&1; then TOOL=buildah
  else die "none of docker (with a running daemon), podman or buildah found"
  fi
fi
case $TOOL in docker|podman|buildah) ;; *) die "--tool must be docker, podman or buildah (got $TOOL)" ;; esac
command -v "$TOOL" >/dev/null 2>&1 || die "$TOOL not found on PATH"

# --- stage the build context
if [ -n "$KEEP" ]; then
  # Only a folder this script staged before (it holds the marker) or an empty or new one is
  # replaced: --keep-context . or a typo must never delete somebody's files.
  if [ -e "$KEEP" ] && [ -n "$(ls -A "$KEEP" 2>/dev/null)" ] && [ ! -e "$KEEP/.kpki-image-context" ]; then
    die "--keep-context $KEEP: not empty and not a build context this script staged; name a new or empty folder"
  fi
  CTX=$KEEP; rm -rf "$CTX"; mkdir -p "$CTX"; : > "$CTX/.kpki-image-context"
else
  CTX=$(mktemp -d "${TMPDIR:-/tmp}/kpki-image.XXXXXX")
  trap 'rm -rf "$CTX"' EXIT
fi
RFS=$CTX/rootfs
mkdir -p "$RFS/usr/local/bin" "$RFS/etc/ssl/certs"
cp "$BINARY" "$RFS/usr/local/bin/kpki"
chmod 0755 "$RFS/usr/local/bin/kpki"

# Every library ldd resolves ("name => /path (addr)") and the loader ("/lib64/ld-... (addr)").
# A static executable has none ("not a dynamic executable").
libs=()
if ldd_out=$(ldd "$BINARY" 2>&1); then
  while read -r line; do
    case $line in
      *"=> not found"*) die "ldd cannot resolve a library of $BINARY: $line" ;;
      *"=> /"*) p=${line#*=> }; libs+=("${p%% (*}") ;;
      /*) libs+=("${line%% (*}") ;;
    esac
  done <<<"$ldd_out"
elif ! grep -q 'not a dynamic executable' <<<"$ldd_out"; then
  die "ldd $BINARY failed: $ldd_out"
fi
for l in "${libs[@]}"; do
  mkdir -p "$RFS$(dirname "$l")"
  cp -L "$l" "$RFS$l"
done

CA=/etc/ssl/certs/ca-certificates.crt
[ -s "$CA" ] || die "no CA bundle at $CA (Debian: apt-get install ca-certificates)"
cp -L "$CA" "$RFS$CA"
printf 'root:x:0:0:root:/:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/:/sbin/nologin\n' >"$RFS/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$RFS/etc/group"
cp "$ROOT/deploy/Containerfile" "$CTX/Containerfile"
log "context $CTX: $(find "$RFS" -type f | wc -l) files, libraries: ${libs[*]:-none}"

# --- build (FROM scratch: nothing to pull)
start=$(date +%s%N)
case $TOOL in
  docker) docker build -f "$CTX/Containerfile" --build-arg "VERSION=$VERSION" -t "$TAG" "$CTX" >&2 ;;
  podman) podman build --pull=never -f "$CTX/Containerfile" --build-arg "VERSION=$VERSION" -t "$TAG" "$CTX" >&2 ;;
  buildah) buildah bud --pull=false -f "$CTX/Containerfile" --build-arg "VERSION=$VERSION" -t "$TAG" "$CTX" >&2 ;;
esac
ms=$(( ($(date +%s%N) - start) / 1000000 ))

case $TOOL in
  docker) size=$(docker image inspect -f '{{.Size}}' "$TAG") ;;
  podman) size=$(podman image inspect -f '{{.Size}}' "$TAG") ;;
  # buildah has no size field: the sum of the manifest's layer sizes (uncompressed tars, as built).
  buildah) size=$(buildah inspect --type image -f '{{.Manifest}}' "$TAG" | sed 's/.*"layers":\[//; s/\].*//' |
             grep -o '"size":[0-9]*' | awk -F: '{ s += $2 } END { print s }') ;;
esac

if [ -n "$ARCHIVE" ]; then
  rm -f "$ARCHIVE"
  case $TOOL in
    docker) docker save -o "$ARCHIVE" "$TAG" ;;
    podman) podman save --format oci-archive -o "$ARCHIVE" "$TAG" >&2 ;;
    buildah) buildah push "$TAG" "oci-archive:$ARCHIVE:$TAG" >&2 ;;
  esac
  log "saved $ARCHIVE ($(stat -c %s "$ARCHIVE") bytes)"
fi

log "built $TAG with $TOOL in $ms ms"
printf 'image %s: %s bytes\n' "$TAG" "${size:-?}"
printf 'binary %s: %s bytes\n' "$BINARY" "$(stat -c %s "$BINARY")"
