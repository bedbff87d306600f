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
export PATH          := $(TOOLS)/node_modules/.bin:$(HOME)/.cargo/bin:$(PATH)
# cargo-leptos builds the debug site with this flag; using it everywhere
# lets tests and clippy share compiled dependencies with that build.
export RUSTFLAGS     ?= --cfg erase_components
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: help run test build-release tools wasm-opt chromium e2e-deps fmt-check clippy unit e2e bench wasm-size

help:
	@echo "make run   build the console (release) and serve it on http://127.0.0.1:3000"
	@echo "make test  fmt, clippy (server + wasm32), all Rust tests, Playwright tests"
	@echo "make bench criterion benchmarks"

## ---- the two commands ----------------------------------------------------

run: build-release
	./target/release/mediator serve

test: tools chromium e2e-deps fmt-check clippy unit e2e
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

## ---- build ---------------------------------------------------------------

build-release: tools wasm-opt
	cargo leptos build --release

## ---- checks --------------------------------------------------------------

fmt-check:
	cargo fmt --all -- --check

clippy:
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy -p app --target wasm32-unknown-unknown --no-default-features --features hydrate -- -D warnings

# Each test in its own process under cargo-nextest when available (a hung
# test is killed, see .ci/nextest.toml); doctests need cargo test.
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

bench:
	cargo bench -p patterns

# Release wasm size, raw and gzipped (the Performance section's figure).
wasm-size: build-release
	@f=target/site/pkg/mediator.wasm; \
	echo "raw:     $$(stat -c %s $$f) bytes"; \
	echo "gzip -9: $$(gzip -9c $$f | wc -c) bytes"
