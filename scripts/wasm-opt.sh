#!/bin/sh
# wasm-opt as cargo-leptos calls it for a release build (once per file of
# the split site), running npm's binaryen — itself a wasm program — in node.
#
# - The main module (`$LEPTOS_OUTPUT_NAME.wasm`, what the overview
#   downloads) gets the flags as given (Cargo.toml's wasm-opt-features,
#   `--converge` among them: -Oz repeated until the size stops shrinking,
#   which keeps it under its size budget) and V8's optimising tier, which
#   pays for itself over that 30-second run.
# - The lazy chunks get one -Oz pass (no `--converge`: a third of their
#   CPU for 0.7% more bytes gzipped, fetched on first use) under V8's baseline
#   compiler alone (`--liftoff-only`): the optimising tier would compile
#   all of binaryen again in each of the 100+ short processes.
#
# Figures: docs/performance.md, "make run from a fresh clone".
# Usage: wasm-opt.sh BINARYEN_WASM_OPT_JS [wasm-opt arguments...]
set -eu
js=$1
shift
main="${LEPTOS_OUTPUT_NAME:-mediator}.wasm"
is_main=false
for arg in "$@"; do
    case "$arg" in
    */"$main" | "$main") is_main=true ;;
    esac
done
if [ "$is_main" = true ]; then
    exec node "$js" "$@"
fi
for arg in "$@"; do
    shift
    [ "$arg" = --converge ] || set -- "$@" "$arg"
done
exec node --liftoff-only "$js" "$@"
