#!/usr/bin/env bash
# Installs the Debian packages the tests and benchmarks need: real S3 clients (AWS CLI, boto3,
# rclone), benchmark peers and load tools (haproxy, nginx, wrk, hyperfine), iproute2 and openssl.
# Idempotent: apt-get runs only when something is missing. Services are not started at install
# (nginx would otherwise listen on :80); tests start their own instances on dynamic ports.
set -euo pipefail
log() { printf '[testbed] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

packages=(awscli python3-boto3 rclone haproxy nginx wrk hyperfine iproute2 openssl)

command -v dpkg-query >/dev/null || die "dpkg-query not found: the test bed expects Debian (bookworm) or a derivative"
missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ $status == "install ok installed" ]] || missing+=("$p")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  log "debian packages: all present (${packages[*]})"
  exit 0
fi

sudo=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || die "missing packages (${missing[*]}) and not root, no sudo: install them as root"
  sudo=(sudo -n)
fi

# Keep invoke-rc.d from starting the daemons we install; restore the previous state on exit.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
  "${sudo[@]}" chmod 755 "$policy"
  created_policy=1
fi
cleanup() { if [[ $created_policy -eq 1 ]]; then "${sudo[@]}" rm -f "$policy"; fi; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
t=$(date +%s)
log "debian packages: installing ${missing[*]}"
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq \
  || die "apt-get update failed (network or sources.list?)"
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}" \
  || die "apt-get install ${missing[*]} failed"

# Belt and braces: should a service have started anyway, stop it so nothing holds :80.
for svc in nginx haproxy; do
  if pidfile=/run/$svc.pid && [[ -s $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    log "stopping $svc started by its package"
    "${sudo[@]}" kill "$(cat "$pidfile")" || true
  fi
done
if command -v ss >/dev/null && ss -ltnH 'sport = :80' | grep -q .; then
  log "WARNING: something listens on :80 after install: $(ss -ltnpH 'sport = :80')"
fi

for p in "${missing[@]}"; do
  [[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true) == "install ok installed" ]] \
    || die "package $p still not installed"
done
log "debian packages: installed ${missing[*]} in $(( $(date +%s) - t ))s"
