# Sluice — every entry point a developer or CI uses. Node 24 comes from the npm package `node`
# (node_modules/.bin/node); npm scripts put it first on PATH.
SHELL := /bin/bash
.DEFAULT_GOAL := help
NODE := node_modules/.bin/node
# Pins shared with the shell scripts (NODE_MAJOR is the Node the `node` package must provide).
NODE_MAJOR := $(shell . scripts/testbed/versions.sh && echo "$$NODE_MAJOR")
# The test-bed cache: $SLUICE_CACHE (environment or `make SLUICE_CACHE=...`; unset or empty means
# ~/.cache/sluice, as in scripts/testbed/versions.sh). Exported so that build.sh and the tests
# (test/testbed/bin.ts) use the same cache as this PATH.
SLUICE_CACHE := $(or $(SLUICE_CACHE),$(HOME)/.cache/sluice)
export SLUICE_CACHE
export PATH := $(CURDIR)/node_modules/.bin:$(SLUICE_CACHE)/bin:$(PATH)

.PHONY: help setup deps testbed build check test test-unit test-integration test-e2e e2e demo golden bench clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	@# npm ci also succeeds when the `node` package's install script did not run (e.g.
	@# npm_config_ignore_scripts), leaving no Node 24 in $(NODE): check before stamping, or every
	@# later make would trust the stamp.
	@v=$$($(NODE) -p process.versions.node 2>/dev/null) && [[ $${v%%.*} == "$(NODE_MAJOR)" ]] || { \
	  echo "ERROR: $(NODE) is not Node $(NODE_MAJOR) (got: $${v:-nothing}) after npm ci: its install script" \
	    "must run (unset npm_config_ignore_scripts / ignore-scripts), then run make again" >&2; exit 1; }
	@touch $@

deps: node_modules/.installed ## npm packages (incl. Node 24)

testbed: ## Debian packages and test-bed binaries (MinIO, etcd, kube-apiserver, kubectl, helm), cached
	scripts/testbed/debian.sh
	scripts/testbed/build.sh

setup: deps testbed ## everything the tests and the demo need

build: deps ## compile bin/, proxy/, operator/ to dist/ (what the image ships)
	npm run build

check: deps ## type check, lint, format
	npm run check

test-unit: deps
	@# The chart's unit tests render with the test bed's helm (test/unit/chart/helm.ts).
	scripts/testbed/build.sh helm
	npm run test:unit

test-integration: setup
	npm run test:integration

test-e2e: setup
	npm run test:e2e

e2e: test-e2e ## the end-to-end journey on a real control plane

test: setup check ## the whole suite: check, unit, integration, e2e (what CI runs)
	npm run test:unit
	npm run test:integration
	npm run test:e2e

demo: setup ## the local demo: the test bed, and S3 traffic through Sluice
	$(NODE) scripts/demo.ts

golden: deps ## regenerate webhook golden files from test/fixtures
	$(NODE) scripts/update-golden.ts

bench: setup ## benchmarks (not tests): results in bench/results
	$(NODE) bench/run.ts

clean:
	rm -rf node_modules .cache dist
