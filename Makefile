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
VENV                 := $(TOOLS)/venv
export PATH          := $(TOOLS)/node_modules/.bin:$(HOME)/.cargo/bin:$(PATH)
# cargo-leptos builds the debug site with this flag; using it everywhere
# lets tests and clippy share compiled dependencies with that build.
export RUSTFLAGS     ?= --cfg erase_components
# Baked in at compile time by Leptos (the /pkg file names the page asks for);
# cargo-leptos sets the same value, so a plain `cargo build`/`nextest` makes
# a server binary that still hydrates, and neither build invalidates the other.
export LEPTOS_OUTPUT_NAME := mediator
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: help run test build-release tools wasm-opt chromium e2e-deps aws-tools cfn-lint fmt-check clippy unit e2e bench bench-mediator bench-ssr wasm-size

help:
	@echo "make run   build the console (release) and serve it on http://127.0.0.1:3000"
	@echo "make test  fmt, clippy (server + wasm32), all Rust tests, Playwright tests"
	@echo "make bench criterion benchmarks (and make bench-mediator)"
	@echo "make bench-ssr overview SSR latency under load (release binary)"

## ---- the two commands ----------------------------------------------------

run: build-release
	./target/release/mediator serve

test: tools chromium e2e-deps aws-tools cfn-lint fmt-check clippy unit e2e
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
# produces wasm that fails to hydrate).
wasm-opt:
	@if [ "$$(wasm-opt --version 2>/dev/null | awk '{print $$3}')" != "$(firstword $(subst ., ,$(BINARYEN_VERSION)))" ]; then \
	  mkdir -p $(TOOLS) && npm install --prefix $(TOOLS) --no-save --no-audit --no-fund binaryen@$(BINARYEN_VERSION); \
	fi

chromium:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update && $(SUDO) apt-get install -y chromium; }

e2e-deps:
	cd end2end && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund

# The AWS backend's emulator (moto_server) and the CloudFormation linter,
# from PyPI into a venv; installed only when missing or at another version.
aws-tools:
	@if [ "$$($(VENV)/bin/pip show moto 2>/dev/null | awk '/^Version/{print $$2}')" != "$(MOTO_VERSION)" ] || \
	    [ "$$($(VENV)/bin/cfn-lint --version 2>/dev/null | awk '{print $$2}')" != "$(CFN_LINT_VERSION)" ]; then \
	  python3 -c 'import venv, ensurepip' 2>/dev/null || { $(SUDO) apt-get update && $(SUDO) apt-get install -y python3-venv; }; \
	  [ -x $(VENV)/bin/pip ] || python3 -m venv $(VENV); \
	  $(VENV)/bin/pip install --quiet --disable-pip-version-check 'moto[server]==$(MOTO_VERSION)' 'cfn-lint==$(CFN_LINT_VERSION)'; \
	fi

## ---- build ---------------------------------------------------------------

build-release: tools wasm-opt
	cargo leptos build --release

## ---- checks --------------------------------------------------------------

cfn-lint: aws-tools
	$(VENV)/bin/cfn-lint server/aws/cloudformation/mediator.yaml

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

e2e:
	cargo leptos build
	cd end2end && npx playwright test

bench: bench-mediator
	cargo bench -p patterns

# The mediator end to end over loopback (issue 5): 100,000 vouchers held
# through a 1-hour outage recovered through replay, and vouchers/s while up.
bench-mediator:
	cargo bench -p server --bench mediator

# Overview SSR latency (issue 6): GET / of the release binary with 90 days
# of history and 1,000,000 archived events, 100 concurrent connections.
# Not part of `make test`. MEDIATOR_BENCH_BIN=… measures another binary.
bench-ssr: build-release
	cargo bench -p server --bench ssr_load

# Release wasm size, raw and gzipped (the Performance section's figure).
wasm-size: build-release
	@f=target/site/pkg/mediator.wasm; \
	echo "raw:     $$(stat -c %s $$f) bytes"; \
	echo "gzip -9: $$(gzip -9c $$f | wc -c) bytes"
