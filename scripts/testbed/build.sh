#!/usr/bin/env bash
# Builds the test-bed binaries (MinIO, etcd, kube-apiserver, helm) from their Go modules into
# $SLUICE_CACHE/bin/<name>-<version>, and links <name> beside them. Idempotent: a cached binary is
# reused. Go builds only these test-bed binaries; no product code is written in Go.
#   usage: build.sh [minio|etcd|kube-apiserver|helm ...]   (default: all)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/versions.sh"
mkdir -p "$SLUICE_BIN"

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
finish() { ln -sfn "$1-$2" "$SLUICE_BIN/$1"; log "$1 $2: built in $(( $(date +%s) - $3 ))s"; }

build_minio() {
  cached minio "$MINIO_VERSION" && return
  need_go; local t=$(date +%s) gobin; gobin=$(mktemp -d)
  log "minio $MINIO_VERSION: go install (about 3 minutes cold)"
  CGO_ENABLED=0 GOBIN="$gobin" go install "github.com/minio/minio@$MINIO_VERSION"
  mv "$gobin/minio" "$SLUICE_BIN/minio-$MINIO_VERSION"; rmdir "$gobin"
  finish minio "$MINIO_VERSION" "$t"
}

build_wrapper() { # NAME VERSION DIR LDFLAGS COLD-TIME-HINT
  cached "$1" "$2" && return
  need_go; local t=$(date +%s)
  log "$1 $2: go build of wrapper module $3 ($5)"
  (cd "$here/gomod/$3" && CGO_ENABLED=0 go build -trimpath -ldflags "$4" -o "$SLUICE_BIN/$1-$2.tmp" .)
  mv "$SLUICE_BIN/$1-$2.tmp" "$SLUICE_BIN/$1-$2"
  finish "$1" "$2" "$t"
}

build_etcd() { build_wrapper etcd "$ETCD_VERSION" etcd "-s -w" "about 40 s cold"; }

build_kube_apiserver() {
  local v=k8s.io/component-base/version major=${KUBE_VERSION%%.*} minor
  minor=${KUBE_VERSION#*.}; minor=${minor%%.*}
  build_wrapper kube-apiserver "$KUBE_VERSION" kube-apiserver \
    "-s -w -X $v.gitVersion=v$KUBE_VERSION -X $v.gitMajor=$major -X $v.gitMinor=$minor -X $v.gitTreeState=clean" \
    "about 3-5 minutes cold on 2 cores"
}

build_helm() {
  cached helm "$HELM_VERSION" && return
  need_go; local t=$(date +%s) gobin; gobin=$(mktemp -d)
  local minor=${KUBE_VERSION#*.}; minor=${minor%%.*}
  log "helm $HELM_VERSION: go install (about 1 minute cold)"
  CGO_ENABLED=0 GOBIN="$gobin" go install -ldflags "-s -w \
    -X helm.sh/helm/v3/internal/version.version=v$HELM_VERSION \
    -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 \
    -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$minor" "helm.sh/helm/v3/cmd/helm@v$HELM_VERSION"
  mv "$gobin/helm" "$SLUICE_BIN/helm-$HELM_VERSION"; rmdir "$gobin"
  finish helm "$HELM_VERSION" "$t"
}

targets=("$@"); [[ ${#targets[@]} -gt 0 ]] || targets=(minio etcd helm kube-apiserver)
for t in "${targets[@]}"; do
  case $t in
    minio) build_minio ;; etcd) build_etcd ;; helm) build_helm ;;
    kube-apiserver) build_kube_apiserver ;;
    *) log "unknown target $t"; exit 2 ;;
  esac
done
