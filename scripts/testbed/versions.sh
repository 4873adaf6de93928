# Pinned versions of every test-bed binary. Bump here; the cache key is <name>-<version>.
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c   # archived repo, no semver tags: a pseudo-version
KUBE_VERSION=1.34.3                                 # kube-apiserver and kubectl (staging modules at v0.34.3)
ETCD_VERSION=3.6.6
HELM_VERSION=3.21.4
NODE_MAJOR=24
SLUICE_CACHE=${SLUICE_CACHE:-$HOME/.cache/sluice}
SLUICE_BIN=$SLUICE_CACHE/bin
