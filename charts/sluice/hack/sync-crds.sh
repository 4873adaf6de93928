#!/usr/bin/env bash
# Copies the repo's CRDs (crds/*.yaml, written with the controller: the source of truth) into
# the chart's crds/, which helm installs before the templates. test/unit/chart/crds.test.ts
# fails while the two differ.
#   usage: charts/sluice/hack/sync-crds.sh          copy
#          charts/sluice/hack/sync-crds.sh --check  exit 1 (with a diff) when out of sync
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
src=$root/crds
dst=$root/charts/sluice/crds
if [[ ${1:-} == --check ]]; then
  diff -r "$src" "$dst" && echo "chart CRDs in sync" && exit 0
  echo "chart CRDs differ from crds/: run $0" >&2
  exit 1
fi
mkdir -p "$dst"
find "$dst" -maxdepth 1 -name '*.yaml' -delete
cp "$src"/*.yaml "$dst"/
echo "copied $(ls "$src"/*.yaml | wc -l) CRD file(s) into charts/sluice/crds"
