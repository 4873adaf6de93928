#!/usr/bin/env bash
# Builds the test-bed binaries (MinIO, etcd, kube-apiserver, kubectl, helm) from their Go modules
# into $SLUICE_CACHE/bin/<name>-<version>, and links <name> beside them. Idempotent: a cached
# binary is reused. Go builds only these test-bed binaries; no product code is written in Go.
#   usage: build.sh [minio|etcd|kube-apiserver|kubectl|helm ...]   (default: all)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/versions.sh"
mkdir -p "$SLUICE_BIN"

# Every build writes into this staging dir inside $SLUICE_BIN (so on the same filesystem), and the
# finished binary is renamed to <name>-<version>: rename is atomic, so an interrupted build never
# leaves a truncated executable that cached() (which checks only -x) would trust. The trap removes
# the staging dir on any exit; INT/TERM exit through it too.
stage=$(mktemp -d "$SLUICE_BIN/.build.XXXXXX")
trap 'rm -rf "$stage"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log() { printf '[testbed] %s\n' "$*" >&2; }
need_go() {
  command -v go >/dev/null || { log "ERROR: the Go toolchain is required to build the test bed (https://go.dev/dl); install Go >= 1.24"; exit 1; }
}
# cached NAME VERSION: true when the binary is already built; links NAME to it either way.
cached() {
  local out="$SLUICE_BIN/$1-$2"
  if [[ -x $out ]]; then ln -sfn "$1-$2" "$SLUICE_BIN/$1"; log "$1 $2: cached"; return 0; fi
  return 1
}
# finish NAME VERSION START: moves $stage/NAME into the cache atomically and links NAME to it.
finish() {
  mv -f "$stage/$1" "$SLUICE_BIN/$1-$2"
  ln -sfn "$1-$2" "$SLUICE_BIN/$1"; log "$1 $2: built in $(( $(date +%s) - $3 ))s"
}

build_minio() {
  cached minio "$MINIO_VERSION" && return
  need_go; local t=$(date +%s)
  log "minio $MINIO_VERSION: go install (about 3 minutes cold)"
  CGO_ENABLED=0 GOBIN="$stage" go install "github.com/minio/minio@$MINIO_VERSION"
  finish minio "$MINIO_VERSION" "$t"
}

build_wrapper() { # NAME VERSION DIR LDFLAGS COLD-TIME-HINT [PACKAGE, default the wrapper's main]
  cached "$1" "$2" && return
  need_go; local t=$(date +%s)
  log "$1 $2: go build of ${6:-wrapper module} in $3 ($5)"
  (cd "$here/gomod/$3" && CGO_ENABLED=0 go build -trimpath -ldflags "$4" -o "$stage/$1" "${6:-.}")
  finish "$1" "$2" "$t"
}

build_etcd() { build_wrapper etcd "$ETCD_VERSION" etcd "-s -w" "about 40 s cold"; }

# kube-apiserver and kubectl share the wrapper module gomod/kube-apiserver, so both come from the
# same k8s.io/kubernetes at KUBE_VERSION with the same dependency versions (kubectl is a `tool` in
# its go.mod), and kubectl's build reuses most of kube-apiserver's compiled packages from the Go
# build cache. Version variables are set in both packages upstream's hack/lib/version.sh sets.
kube_ldflags() {
  local major=${KUBE_VERSION%%.*} minor p flags="-s -w"
  minor=${KUBE_VERSION#*.}; minor=${minor%%.*}
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags+=" -X $p.gitVersion=v$KUBE_VERSION -X $p.gitMajor=$major -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
  done
  printf '%s' "$flags"
}
build_kube_apiserver() {
  build_wrapper kube-apiserver "$KUBE_VERSION" kube-apiserver "$(kube_ldflags)" "about 3-5 minutes cold on 2 cores"
}
build_kubectl() {
  build_wrapper kubectl "$KUBE_VERSION" kube-apiserver "$(kube_ldflags)" \
    "about 1-2 minutes on 2 cores once kube-apiserver is built" k8s.io/kubernetes/cmd/kubectl
}

build_helm() {
  cached helm "$HELM_VERSION" && return
  need_go; local t=$(date +%s)
  local minor=${KUBE_VERSION#*.}; minor=${minor%%.*}
  log "helm $HELM_VERSION: go install (about 1 minute cold)"
  CGO_ENABLED=0 GOBIN="$stage" go install -ldflags "-s -w \
    -X helm.sh/helm/v3/internal/version.version=v$HELM_VERSION \
    -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 \
    -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$minor" "helm.sh/helm/v3/cmd/helm@v$HELM_VERSION"
  finish helm "$HELM_VERSION" "$t"
}

targets=("$@"); [[ ${#targets[@]} -gt 0 ]] || targets=(minio etcd helm kube-apiserver kubectl)
for t in "${targets[@]}"; do
  case $t in
    minio) build_minio ;; etcd) build_etcd ;; helm) build_helm ;;
    kube-apiserver) build_kube_apiserver ;; kubectl) build_kubectl ;;
    *) log "unknown target $t"; exit 2 ;;
  esac
done
