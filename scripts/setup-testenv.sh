#!/usr/bin/env bash
# scripts/setup-testenv.sh: prepare the real peers that kpki's integration tests need.
#
# Target: a fresh Debian 12 (bookworm) machine, run as root, that can reach Debian's apt
# archive and the npm registry only. Usage:  bash scripts/setup-testenv.sh
#
# What it does:
#   * apt-installs openssl, etcd-server, etcd-client, golang-cfssl, easy-rsa, curl, golang-go,
#     libnss3-tools (certutil, for the NSS databases of `kpki trust`),
#     iproute2 (the live tests make veth pairs and a network namespace), containerd and runc (the
#     kubelet test's container runtime), containernetworking-plugins (the CNI binaries the node's
#     containerd is given), iptables (kube-proxy's, inside the node's network namespace), buildah
#     and podman (the approver image is built and run with them), prometheus (promtool reads
#     `kpki exporter`'s metrics), and rsync, jq, make when the
#     Kubernetes binaries have to be built, gcc and libc6-dev when the pause image has to be.
#     `apt-get update` runs at most once, and only if something has to be installed.
#     Package scripts may not start services during the install (a temporary policy-rc.d), and
#     where systemctl exists the units of the containerd and podman this run installed are
#     disabled (and stopped, if systemd runs): the tests start their own containerd and run
#     podman themselves, and none may run outside them.
#   * kubectl: the one on PATH is used as is. Only if there is none, Debian's kubernetes-client
#     (1.20.2) is unpacked with `apt-get download` + `dpkg -x` into $CACHE/kubectl and linked
#     as $CACHE/bin/kubectl (apt cannot install it over another package's /usr/bin/kubectl, such
#     as google-cloud-cli's).
#   * kube-apiserver, kube-controller-manager, kube-scheduler, kubelet and kube-proxy v1.20.2: there
#     is no binary package, so they are built offline, in one `make WHAT=...`, from Debian's `kubernetes`
#     source package with Debian's Go 1.19, after swapping the vendored reflect2 v1.0.1 for
#     Debian's 1.0.2 (with v1.0.1 and Go >= 1.18 kube-apiserver crashes on the first
#     pretty-printed JSON response: v1.0.1 calls reflect.mapiterinit with its pre-1.18
#     signature, modern-go/reflect2 issue #24).
#     Cold run: about 8-10 minutes on 2 cores (506 s measured for the first four, source package
#     already downloaded; kube-proxy alone, added to a cache that had them: 336 s).
#     Warm run: about a second. The stamp names the binaries built; a cache stamped for fewer of
#     them (by an earlier version of this script) gets only the missing ones built.
#   * The pause image (the pod sandbox's one process) for the node's containerd: build/pause/linux/
#     pause.c from the same source package, compiled statically with gcc as build/pause/Makefile
#     does, in a FROM scratch image built with buildah (private vfs storage, removed after) and
#     saved as an OCI archive. Nothing is pulled. A few seconds.
#   * It exports nothing and starts no servers. It prints one line per tool at the end.
#
# WHERE THE TESTS FIND THE BINARIES (the path rule; tests must use the same rule):
#
#     CACHE = $KPKI_TESTENV                     if set and non-empty (must be an absolute path)
#           = $XDG_CACHE_HOME/kpki-testenv      else, if XDG_CACHE_HOME is set and non-empty
#           = $HOME/.cache/kpki-testenv         otherwise
#     (shell: ${KPKI_TESTENV:-${XDG_CACHE_HOME:-$HOME/.cache}/kpki-testenv};
#      Node:  process.env.KPKI_TESTENV || path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'kpki-testenv'))
#
#     $CACHE/bin/kube-apiserver             always (v1.20.2)
#     $CACHE/bin/kube-controller-manager    always (v1.20.2)
#     $CACHE/bin/kube-scheduler             always (v1.20.2)
#     $CACHE/bin/kubelet                    always (v1.20.2)
#     $CACHE/bin/kube-proxy                 always (v1.20.2)
#     $CACHE/images/pause.oci.tar           always: the OCI archive of the pause image, whose name
#                                           (localhost/kpki-pause:TAG, TAG from the source's
#                                           build/pause/Makefile) is in $CACHE/images/pause.name
#     CNI plugins (bridge, host-local, ...): /usr/lib/cni (Debian's containernetworking-plugins)
#     $CACHE/bin/kubectl                    only if no kubectl was on PATH; else use `kubectl` from PATH
#     etcd, etcdctl, openssl, cfssl, cfssljson, curl, go, ip, containerd, runc, certutil, iptables,
#     buildah, podman:
#                                           on PATH (/usr/bin, /usr/sbin)
#     easy-rsa: /usr/share/easy-rsa/easyrsa (not on PATH)
#
# Other files in $CACHE: logs/ (apt and build logs), aptsrc/ (private deb-src apt state and the
# downloaded source package), build/ (the source tree, only while building or with
# KPKI_TESTENV_KEEP_BUILD=1), home/ (HOME for the build), images/ (the pause image), pause-build.*/
# (only while building it). The tests add go-tools/ (the Go twins under testdata/, built by
# test/helpers/go-twin.ts once per version of their source), go-cache/, and the lock files
# worker-node.lock (one kubelet per machine) and build-binary.lock (dist/kpki built once), and
# netns-made-by-tests while a test's network namespace exists (test/helpers/worker-node.ts).
#
# Environment knobs:
#   KPKI_TESTENV=/abs/dir        cache directory (see above)
#   KPKI_TESTENV_KEEP_BUILD=1    keep the source tree and Go build cache after a build (~2 GB)
#                                so that a later rebuild is incremental; default: delete them.

set -euo pipefail
set -o errtrace

readonly K8S_VERSION=v1.20.2
# The binaries built from the source package, in one `make WHAT=...` (they share Go's build cache).
readonly KUBE_BINS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy)
# Recipe id written to the stamp file, followed by " bins=" and the binaries built with it. Change
# it to force a rebuild/re-extraction of everything; a binary missing from the stamp is built alone.
readonly RECIPE="kpki-testenv/2 kubernetes=${K8S_VERSION} reflect2=1.0.2 go=debian-golang-go"
# golang-go is also a test peer: test/interop/go-x509.test.ts checks kpki against Go's crypto/x509 byte for byte.
readonly APT_PKGS=(openssl etcd-server etcd-client golang-cfssl easy-rsa curl golang-go iproute2 containerd runc libnss3-tools
  containernetworking-plugins iptables buildah podman prometheus)
readonly BUILD_PKGS=(golang-go rsync jq make)
readonly PAUSE_PKGS=(gcc libc6-dev)
# Recipe id of the pause image, in its stamp file; change it to rebuild the image.
readonly PAUSE_RECIPE="kpki-testenv/pause/1 gcc -Os -static"

readonly EASYRSA=/usr/share/easy-rsa/easyrsa

T0=$SECONDS

log() { printf 'setup-testenv: %s\n' "$*"; }
die() { printf 'setup-testenv: ERROR: %s\n' "$*" >&2; exit 1; }
on_err() {
  printf 'setup-testenv: ERROR: command failed (exit %s) at line %s: %s\n' "$1" "$2" "$3" >&2
}
trap 'on_err "$?" "$LINENO" "$BASH_COMMAND"' ERR

# ---------------------------------------------------------------------------------------------
# cache directory (the path rule above)
if [ -n "${KPKI_TESTENV:-}" ]; then
  CACHE=$KPKI_TESTENV
elif [ -n "${XDG_CACHE_HOME:-}" ]; then
  CACHE=$XDG_CACHE_HOME/kpki-testenv
elif [ -n "${HOME:-}" ]; then
  CACHE=$HOME/.cache/kpki-testenv
else
  die "cannot choose a cache directory: KPKI_TESTENV, XDG_CACHE_HOME and HOME are all unset"
fi
case $CACHE in
  /*) ;;
  *) die "the cache directory must be an absolute path (got '$CACHE'); set KPKI_TESTENV=/abs/path" ;;
esac
readonly CACHE
readonly BIN=$CACHE/bin LOGS=$CACHE/logs APTSRC=$CACHE/aptsrc BUILD=$CACHE/build
readonly TREE=$BUILD/kubernetes
readonly STAMP=$BIN/.kube-build.stamp
readonly IMAGES=$CACHE/images
readonly PAUSE_ARCHIVE=$IMAGES/pause.oci.tar PAUSE_NAME_FILE=$IMAGES/pause.name PAUSE_STAMP=$IMAGES/.pause.stamp

mkdir -p "$BIN" "$LOGS" || die "cannot create $BIN (is the cache directory writable?)"

# One run at a time per cache (tests started in parallel may all call this script).
exec 9>"$CACHE/.lock"
if ! flock -n 9; then
  log "another setup-testenv run holds $CACHE/.lock; waiting for it..."
  flock 9
fi

# ---------------------------------------------------------------------------------------------
# helpers

is_root() { [ "$(id -u)" = 0 ]; }

# Private apt options: root downloads into the cache (which _apt may not be able to enter)
# without the "unsandboxed" warning.
APT_DL_OPTS=()
if is_root; then APT_DL_OPTS=(-o APT::Sandbox::User=root); fi

# run_logged LOGFILE CMD...: run CMD with its output appended to LOGFILE; on failure show the tail.
run_logged() {
  local logf=$1; shift
  printf '\n=== %s: %s\n' "$(date -u +%FT%TZ)" "$*" >>"$logf"
  if ! "$@" >>"$logf" 2>&1; then
    printf 'setup-testenv: --- last lines of %s ---\n' "$logf" >&2
    tail -n 25 "$logf" >&2 || true
    die "failed: $* (full log: $logf)"
  fi
}

is_installed() {
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" = installed ]
}

APT_UPDATED=0
apt_update_once() {
  [ "$APT_UPDATED" = 1 ] && return 0
  is_root || die "apt-get update needs root (run this script as root)"
  log "apt-get update"
  run_logged "$LOGS/apt.log" apt-get update
  APT_UPDATED=1
}

# apt_download DIR PKG: `apt-get download PKG` into DIR (updating the lists once if needed).
apt_download() {
  local dir=$1 pkg=$2
  mkdir -p "$dir"
  if ! (cd "$dir" && apt-get "${APT_DL_OPTS[@]}" download "$pkg") >>"$LOGS/apt.log" 2>&1; then
    if [ "$APT_UPDATED" = 0 ]; then
      apt_update_once
      (cd "$dir" && run_logged "$LOGS/apt.log" apt-get "${APT_DL_OPTS[@]}" download "$pkg")
    else
      tail -n 15 "$LOGS/apt.log" >&2 || true
      die "apt-get download $pkg failed (log: $LOGS/apt.log)"
    fi
  fi
  compgen -G "$dir/${pkg}_*.deb" >/dev/null || die "apt-get download $pkg left no .deb in $dir"
}

POLICY_RC=/usr/sbin/policy-rc.d
CREATED_POLICY_RC=0
cleanup() {
  if [ "$CREATED_POLICY_RC" = 1 ]; then rm -f "$POLICY_RC"; fi
  if [ -n "${HEARTBEAT_PID:-}" ]; then kill "$HEARTBEAT_PID" 2>/dev/null || true; fi
}
trap cleanup EXIT

apt_install() {
  is_root || die "installing $* needs root (run this script as root)"
  if [ -n "$(dpkg --audit 2>/dev/null || true)" ]; then
    log "dpkg reports half-installed packages; running dpkg --configure -a"
    run_logged "$LOGS/apt.log" env DEBIAN_FRONTEND=noninteractive dpkg --configure -a
  fi
  apt_update_once
  # etcd-server's and containerd's postinst would start their services; keep servers from
  # starting, as Debian's container images do, unless the machine already has a policy of its own.
  if [ ! -e "$POLICY_RC" ]; then
    printf '#!/bin/sh\n# temporary, from kpki scripts/setup-testenv.sh\nexit 101\n' >"$POLICY_RC"
    chmod 0755 "$POLICY_RC"
    CREATED_POLICY_RC=1
  fi
  log "apt-get install $*"
  run_logged "$LOGS/apt.log" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "$@"
  if [ "$CREATED_POLICY_RC" = 1 ]; then rm -f "$POLICY_RC"; CREATED_POLICY_RC=0; fi
}

# kube_ok NAME: $BIN/NAME exists and reports the expected version.
kube_ok() {
  local b=$BIN/$1
  [ -x "$b" ] && [ "$("$b" --version 2>/dev/null || true)" = "Kubernetes $K8S_VERSION" ]
}

# ---------------------------------------------------------------------------------------------
# 1. is a build needed?

# The binaries to build: those the stamp does not name under this recipe, or that do not run.
STAMPED=()
if [ -f "$STAMP" ]; then
  stamp=$(cat "$STAMP")
  case $stamp in
    "$RECIPE bins="*) read -r -a STAMPED <<<"${stamp#"$RECIPE bins="}" ;;
  esac
fi
TO_BUILD=()
for n in "${KUBE_BINS[@]}"; do
  ok=0
  for s in "${STAMPED[@]}"; do if [ "$s" = "$n" ] && kube_ok "$n"; then ok=1; fi; done
  if [ "$ok" = 0 ]; then TO_BUILD+=("$n"); fi
done
NEED_BUILD=0
if [ "${#TO_BUILD[@]}" -gt 0 ]; then NEED_BUILD=1; fi

NEED_PAUSE=1
if [ -s "$PAUSE_ARCHIVE" ] && [ -s "$PAUSE_NAME_FILE" ] && [ -f "$PAUSE_STAMP" ] && [ "$(cat "$PAUSE_STAMP")" = "$PAUSE_RECIPE" ]; then
  NEED_PAUSE=0
fi

# ---------------------------------------------------------------------------------------------
# 2. Debian packages

want=("${APT_PKGS[@]}")
if [ "$NEED_BUILD" = 1 ]; then want+=("${BUILD_PKGS[@]}"); fi
if [ "$NEED_PAUSE" = 1 ]; then want+=("${PAUSE_PKGS[@]}"); fi
missing=()
for p in "${want[@]}"; do
  is_installed "$p" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  apt_install "${missing[@]}"
fi

# No containerd, podman or Prometheus service may run outside the tests (they start their own containerd, with
# a private socket and state, and run podman and Prometheus themselves). Installing Debian's containerd enables its
# unit, and podman's enables podman.socket, podman.service, podman-restart.service and the
# auto-update timer; policy-rc.d kept them from starting, but a machine with its own policy may have
# started them. Only for packages this run installed (a containerd the machine already had, say for
# Docker, is left alone), where systemctl exists and the unit is installed.
disable_units() {
  local u
  for u in "$@"; do
    [ -f "/lib/systemd/system/$u" ] || continue
    if systemctl is-enabled --quiet "$u" 2>/dev/null; then
      log "disabling the $u systemd unit (the tests run their own)"
      run_logged "$LOGS/apt.log" systemctl disable "$u"
    fi
    if [ -d /run/systemd/system ] && systemctl is-active --quiet "$u" 2>/dev/null; then
      log "stopping the $u systemd unit"
      run_logged "$LOGS/apt.log" systemctl stop "$u"
    fi
  done
}
if command -v systemctl >/dev/null 2>&1; then
  for p in "${missing[@]}"; do
    case $p in
      containerd) disable_units containerd.service ;;
      podman) disable_units podman.socket podman.service podman-restart.service podman-auto-update.timer podman-auto-update.service ;;
      prometheus) disable_units prometheus.service ;;
    esac
  done
fi

# ---------------------------------------------------------------------------------------------
# 3. kubectl (never apt-install kubernetes-client over another package's /usr/bin/kubectl: dpkg
#    refuses to overwrite it and leaves the other packages of that apt-get run unconfigured)

if command -v kubectl >/dev/null 2>&1; then
  KUBECTL=$(command -v kubectl)
else
  KC_DIR=$CACHE/kubectl
  if [ ! -x "$KC_DIR/usr/bin/kubectl" ] || ! "$KC_DIR/usr/bin/kubectl" version --client -o json >/dev/null 2>&1; then
    log "no kubectl on PATH; unpacking Debian's kubernetes-client into $KC_DIR"
    rm -rf "$CACHE/dl-kubectl" "$KC_DIR.new"
    apt_download "$CACHE/dl-kubectl" kubernetes-client
    dpkg -x "$(compgen -G "$CACHE/dl-kubectl/kubernetes-client_*.deb" | head -n 1)" "$KC_DIR.new"
    [ -x "$KC_DIR.new/usr/bin/kubectl" ] || die "kubernetes-client .deb has no usr/bin/kubectl"
    rm -rf "$KC_DIR" && mv "$KC_DIR.new" "$KC_DIR"
    rm -rf "$CACHE/dl-kubectl"
  fi
  ln -sfn ../kubectl/usr/bin/kubectl "$BIN/kubectl"
  KUBECTL=$BIN/kubectl
fi

# ---------------------------------------------------------------------------------------------
# 4. kube-apiserver, kube-controller-manager, kube-scheduler, kubelet from Debian's source package

# write_src_list OUT_DIR: a deb-src list derived from the system's own Debian apt sources.
write_src_list() {
  local parts=$1
  rm -rf "$parts" && mkdir -p "$parts"
  if [ -s /etc/apt/sources.list.d/debian.sources ]; then
    # deb822: turn every stanza's "Types:" into deb-src, keep URIs/Suites/Components/Signed-By.
    sed -E 's/^[Tt][Yy][Pp][Ee][Ss]:.*$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources >"$parts/src.sources"
    grep -q '^Types: deb-src' "$parts/src.sources" ||
      die "/etc/apt/sources.list.d/debian.sources has no 'Types:' stanza to derive deb-src from"
  elif [ -s /etc/apt/sources.list ]; then
    # one-line format: "deb [opts] URI suite comps" -> "deb-src [opts] URI suite comps"
    sed -nE 's/^[[:space:]]*deb[[:space:]]+/deb-src /p; s/^[[:space:]]*(deb-src[[:space:]].*)$/\1/p' \
      /etc/apt/sources.list | awk '!seen[$0]++' >"$parts/src.list"
    [ -s "$parts/src.list" ] || die "/etc/apt/sources.list has no 'deb' lines to derive deb-src from"
  else
    die "found neither /etc/apt/sources.list.d/debian.sources nor /etc/apt/sources.list to derive a deb-src source from"
  fi
}

fetch_source() {
  if compgen -G "$APTSRC/dl/kubernetes_*.orig.tar.*" >/dev/null; then return 0; fi
  log "fetching Debian's kubernetes source package (deb-src derived from the system's apt sources)"
  write_src_list "$APTSRC/parts"
  mkdir -p "$APTSRC/lists/partial" "$APTSRC/cache/archives/partial"
  local a=(-o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts="$APTSRC/parts"
           -o Dir::State::Lists="$APTSRC/lists" -o Dir::Cache="$APTSRC/cache" "${APT_DL_OPTS[@]}")
  run_logged "$LOGS/apt.log" apt-get "${a[@]}" update
  rm -rf "$APTSRC/dl.tmp" && mkdir -p "$APTSRC/dl.tmp"
  (cd "$APTSRC/dl.tmp" && run_logged "$LOGS/apt.log" apt-get "${a[@]}" source --download-only kubernetes)
  compgen -G "$APTSRC/dl.tmp/kubernetes_*.orig.tar.*" >/dev/null ||
    die "apt-get source kubernetes did not produce an orig tarball (log: $LOGS/apt.log)"
  rm -rf "$APTSRC/dl" && mv "$APTSRC/dl.tmp" "$APTSRC/dl"
}

prepare_tree() {
  if [ -f "$TREE/.kpki-prepared" ] && [ "$(cat "$TREE/.kpki-prepared")" = "$RECIPE" ]; then
    log "reusing the prepared source tree $TREE"
    return 0
  fi
  local orig
  orig=$(compgen -G "$APTSRC/dl/kubernetes_*.orig.tar.*" | head -n 1)
  log "extracting $(basename "$orig")"
  chmod -R u+w "$BUILD" 2>/dev/null || true   # Go's module/build dirs can be read-only
  rm -rf "$BUILD" && mkdir -p "$BUILD/x"
  tar -xf "$orig" -C "$BUILD/x" || die "cannot extract $orig"
  local tops=("$BUILD"/x/*)
  [ "${#tops[@]}" = 1 ] && [ -d "${tops[0]}/cmd/kube-apiserver" ] ||
    die "unexpected layout in $orig (no single top-level dir with cmd/kube-apiserver)"
  mv "${tops[0]}" "$TREE" && rmdir "$BUILD/x"

  # vendored reflect2 v1.0.1 -> Debian's golang-github-modern-go-reflect2-dev 1.0.2 (see the header)
  log "replacing vendored reflect2 v1.0.1 with Debian's golang-github-modern-go-reflect2-dev (1.0.2)"
  local dl=$BUILD/reflect2-deb
  apt_download "$dl" golang-github-modern-go-reflect2-dev
  dpkg -x "$(compgen -G "$dl/golang-github-modern-go-reflect2-dev_*.deb" | head -n 1)" "$dl/x"
  local new=$dl/x/usr/share/gocode/src/github.com/modern-go/reflect2
  local r=$TREE/vendor/github.com/modern-go/reflect2
  [ -f "$new/go_above_118.go" ] ||
    die "the reflect2 package has no go_above_118.go (need >= 1.0.2; got $(basename "$dl"/*.deb))"
  [ -f "$r/LICENSE" ] || die "vendored reflect2 not found at $r"
  cp "$r/LICENSE" "$dl/LICENSE.vendored"
  rm -rf "$r" && mkdir -p "$r"
  cp "$new"/*.go "$r"/
  rm -f "$r/go.mod"
  cp "$dl/LICENSE.vendored" "$r/LICENSE"
  sed -i 's#github.com/modern-go/reflect2 v1.0.1#github.com/modern-go/reflect2 v1.0.2#g' "$TREE/vendor/modules.txt"
  rm -rf "$dl"

  # GOPATH layout, as debian/rules builds it
  mkdir -p "$TREE/.go/src/k8s.io"
  ln -sfn ../../.. "$TREE/.go/src/k8s.io/kubernetes"
  printf '%s\n' "$RECIPE" >"$TREE/.kpki-prepared"
}

build_kube() {
  local gobin=/usr/lib/go/bin
  [ -x "$gobin/go" ] || die "Debian's Go ($gobin/go from golang-go) is missing"
  local gover
  gover=$("$gobin/go" version) || die "$gobin/go does not run"
  local blog=$LOGS/build.log
  mkdir -p "$CACHE/home"
  : >"$blog"
  log "building ${TO_BUILD[*]} with $gover (about 8-10 minutes on 2 cores for all five; log: $blog)..."
  # heartbeat for CI systems that kill silent jobs; dies with this script. Its `sleep` must not
  # hold the lock (fd 9) or stdout: it outlives the killed subshell by up to a minute.
  local start=$SECONDS parent=$$
  ( exec 9>&-
    while sleep 60 </dev/null >/dev/null 2>&1; kill -0 "$parent" 2>/dev/null; do
      printf 'setup-testenv:   ...still building (%d min)\n' $(( (SECONDS - start) / 60 ))
    done ) &
  HEARTBEAT_PID=$!
  local rc=0
  (
    cd "$TREE" &&
    exec env -u GOROOT -u GOBIN -u GOOS -u GOARCH -u GOCACHE -u GOENV -u GOMODCACHE -u GOTOOLCHAIN \
      -u GO111MODULE -u KUBE_GIT_VERSION -u KUBE_GIT_VERSION_FILE -u KUBE_BUILD_PLATFORMS \
      PATH="$gobin:$PATH" GOPATH="$TREE/.go" CGO_ENABLED=0 GOPROXY=off GOFLAGS= HOME="$CACHE/home" \
      make WHAT="${TO_BUILD[*]/#/cmd/}"
  ) >>"$blog" 2>&1 || rc=$?
  kill "$HEARTBEAT_PID" 2>/dev/null || true
  wait "$HEARTBEAT_PID" 2>/dev/null || true
  HEARTBEAT_PID=
  if [ "$rc" != 0 ]; then
    printf 'setup-testenv: --- last lines of %s ---\n' "$blog" >&2
    tail -n 40 "$blog" >&2 || true
    die "make failed (exit $rc) after $((SECONDS - start)) s; full log: $blog"
  fi
  log "build finished in $((SECONDS - start)) s"

  local n f
  for n in "${TO_BUILD[@]}"; do
    f=$TREE/_output/bin/$n
    [ -x "$f" ] || die "the build did not produce $f (log: $blog)"
    # the reflect2 1.0.2 code must be linked in (its file names are in the binary's line table)
    grep -qa 'modern-go/reflect2/go_above_118.go' "$f" ||
      die "$n was not built with reflect2 1.0.2 (go_above_118.go not referenced); see $blog"
    cp "$f" "$BIN/.$n.tmp" && chmod 0755 "$BIN/.$n.tmp" && mv -f "$BIN/.$n.tmp" "$BIN/$n"
    kube_ok "$n" || die "$BIN/$n --version does not print 'Kubernetes $K8S_VERSION' (got: $("$BIN/$n" --version 2>&1 | head -n 1))"
  done
  # every binary of KUBE_BINS now runs: those stamped before and those just built
  printf '%s bins=%s\n' "$RECIPE" "${KUBE_BINS[*]}" >"$STAMP"
}

if [ "$NEED_BUILD" = 1 ]; then
  fetch_source
  prepare_tree
  build_kube
  if [ "${KPKI_TESTENV_KEEP_BUILD:-0}" = 1 ]; then
    log "keeping the source tree and Go build cache (KPKI_TESTENV_KEEP_BUILD=1)"
  else
    log "removing the source tree and Go build cache (binaries are in $BIN; set KPKI_TESTENV_KEEP_BUILD=1 to keep them)"
    chmod -R u+w "$BUILD" "$CACHE/home" 2>/dev/null || true
    rm -rf "$BUILD" "$CACHE/home"
  fi
fi

# ---------------------------------------------------------------------------------------------
# 5. the pause image, from the same source package

# A root buildah keeps its blob-info cache in /var/lib/containers/cache whatever its --root
# (containers/image pkg/blobinfocache/default.go); remove what this step created there.
build_pause() {
  fetch_source
  local orig work tag name
  orig=$(compgen -G "$APTSRC/dl/kubernetes_*.orig.tar.*" | head -n 1)
  work=$(mktemp -d "$CACHE/pause-build.XXXXXX")
  local had_varlib=0
  if [ -e /var/lib/containers ]; then had_varlib=1; fi
  tar -xf "$orig" -C "$work" --wildcards --no-anchored 'build/pause/linux/pause.c' 'build/pause/Makefile' ||
    die "cannot extract build/pause from $orig"
  local src
  src=$(compgen -G "$work/*/build/pause" | head -n 1)
  [ -f "$src/linux/pause.c" ] || die "no build/pause/linux/pause.c in $orig"
  # build/pause/Makefile: TAG = 3.4; CFLAGS = -Os -Wall -Werror -static -DVERSION=v$(TAG)-$(REV)
  tag=$(sed -n 's/^TAG *= *\([0-9.]*\)$/\1/p' "$src/Makefile" | head -n 1)
  [ -n "$tag" ] || die "no TAG = ... line in $src/Makefile"
  name=localhost/kpki-pause:$tag
  mkdir -p "$work/ctx" "$work/tmp" "$IMAGES"
  run_logged "$LOGS/pause.log" gcc -Os -Wall -Werror -static -DVERSION="v$tag-kpki" -o "$work/ctx/pause" "$src/linux/pause.c"
  # as build/pause/Dockerfile, on scratch
  printf 'FROM scratch\nADD pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n' >"$work/ctx/Containerfile"
  # containers.conf(5): buildah's network config (its lock file) under $work too, not in /etc/cni/net.d
  mkdir -p "$work/cni"
  printf '[network]\nnetwork_config_dir = "%s"\n' "$work/cni" >"$work/containers.conf"
  local b=(env TMPDIR="$work/tmp" CONTAINERS_CONF="$work/containers.conf" buildah --root "$work/root" --runroot "$work/run" --storage-driver vfs)
  run_logged "$LOGS/pause.log" "${b[@]}" bud --pull=false -f "$work/ctx/Containerfile" -t "$name" "$work/ctx"
  rm -f "$PAUSE_ARCHIVE.tmp"
  run_logged "$LOGS/pause.log" "${b[@]}" push "$name" "oci-archive:$PAUSE_ARCHIVE.tmp:$name"
  run_logged "$LOGS/pause.log" "${b[@]}" rmi --all
  mv -f "$PAUSE_ARCHIVE.tmp" "$PAUSE_ARCHIVE"
  printf '%s\n' "$name" >"$PAUSE_NAME_FILE"
  printf '%s\n' "$PAUSE_RECIPE" >"$PAUSE_STAMP"
  chmod -R u+w "$work" 2>/dev/null || true
  rm -rf "$work"
  if [ "$had_varlib" = 0 ]; then rm -rf /var/lib/containers; fi
  log "built $name ($(stat -c %s "$PAUSE_ARCHIVE") bytes: $PAUSE_ARCHIVE)"
}

if [ "$NEED_PAUSE" = 1 ]; then
  rm -f "$PAUSE_STAMP"
  build_pause
fi

# ---------------------------------------------------------------------------------------------
# 6. check everything and print one line per tool

first_line() { "$@" 2>&1 | sed -n '1p'; }
need_cmd() { command -v "$1" >/dev/null 2>&1 || die "$1 not found on PATH after installation"; }
for c in etcd etcdctl openssl cfssl cfssljson curl containerd runc iptables buildah podman prometheus promtool; do need_cmd "$c"; done
[ -x /usr/lib/cni/bridge ] && [ -x /usr/lib/cni/host-local ] && [ -x /usr/lib/cni/loopback ] ||
  die "the CNI plugins are not in /usr/lib/cni (package containernetworking-plugins)"
[ -x "$EASYRSA" ] || die "$EASYRSA not found (package easy-rsa)"

v_etcd=$(etcd --version 2>&1 | sed -n 's/^etcd Version: //p')
v_etcdctl=$(ETCDCTL_API=3 etcdctl version 2>&1 | sed -n 's/^etcdctl version: //p')
v_kubectl=$("$KUBECTL" version --client -o json 2>/dev/null | sed -n 's/.*"gitVersion": *"\([^"]*\)".*/\1/p' | head -n 1)
v_openssl=$(first_line openssl version)
v_cfssl=$(cfssl version 2>&1 | sed -n 's/^Version: //p')
v_easyrsa=$("$EASYRSA" --version 2>&1 | sed -n 's/^ *Version: *//p' | head -n 1)
v_kas=$(first_line "$BIN/kube-apiserver" --version)
v_kcm=$(first_line "$BIN/kube-controller-manager" --version)
v_ksched=$(first_line "$BIN/kube-scheduler" --version)
v_kubelet=$(first_line "$BIN/kubelet" --version)
v_kproxy=$(first_line "$BIN/kube-proxy" --version)
v_iptables=$(first_line iptables --version)
v_buildah=$(first_line buildah --version)
v_podman=$(first_line podman --version)
v_containerd=$(first_line containerd --version)
v_runc=$(first_line runc --version)
v_prometheus=$(first_line prometheus --version)
[ -n "$v_kubectl" ] || die "$KUBECTL does not run (kubectl version --client failed)"

log "ready in $((SECONDS - T0)) s; cache: $CACHE"
printf '  %-24s %-48s %s\n' \
  etcd "$(command -v etcd)" "${v_etcd:-?}" \
  etcdctl "$(command -v etcdctl)" "${v_etcdctl:-?}" \
  kubectl "$KUBECTL" "$v_kubectl" \
  openssl "$(command -v openssl)" "$v_openssl" \
  cfssl "$(command -v cfssl)" "${v_cfssl:-?}" \
  easyrsa "$EASYRSA" "${v_easyrsa:-?}" \
  kube-apiserver "$BIN/kube-apiserver" "$v_kas" \
  kube-controller-manager "$BIN/kube-controller-manager" "$v_kcm" \
  kube-scheduler "$BIN/kube-scheduler" "$v_ksched" \
  kubelet "$BIN/kubelet" "$v_kubelet" \
  kube-proxy "$BIN/kube-proxy" "$v_kproxy" \
  pause-image "$PAUSE_ARCHIVE" "$(cat "$PAUSE_NAME_FILE")" \
  cni-plugins /usr/lib/cni "$(dpkg-query -W -f='${Version}' containernetworking-plugins 2>/dev/null || echo '?')" \
  iptables "$(command -v iptables)" "$v_iptables" \
  buildah "$(command -v buildah)" "$v_buildah" \
  podman "$(command -v podman)" "$v_podman" \
  containerd "$(command -v containerd)" "$v_containerd" \
  runc "$(command -v runc)" "$v_runc" \
  prometheus "$(command -v prometheus)" "$v_prometheus"
