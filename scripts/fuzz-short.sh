#!/usr/bin/env bash
# Short fuzzing pass: builds every cargo-fuzz target (fuzz/) and runs each for
# FUZZ_SECONDS (default 30) from a seed corpus (fuzz/seed.py). Any crash, panic,
# failed assertion, leak or timeout fails the run; libFuzzer leaves the input in
# fuzz/artifacts/<target>/. Turn a crash into a regression by fixing it and
# copying the input to fuzz/regressions/<target>/ (replayed by
# `cargo test -p agentauthz --test fuzz_regressions`).
#
# Stable toolchain only: cargo-fuzz passes -Zsanitizer=address, which stable
# rustc accepts with RUSTC_BOOTSTRAP=1. FUZZ_SANITIZER=none skips the sanitizer.
# Installs cargo-fuzz (pinned, --locked) if it is missing.
#
# Env: FUZZ_SECONDS (per target), FUZZ_TARGETS (space-separated subset),
#      FUZZ_SANITIZER (address|none).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
seconds=${FUZZ_SECONDS:-30}
sanitizer=${FUZZ_SANITIZER:-address}
cargo_fuzz_version=0.13.2

if ! cargo fuzz --version 2>/dev/null | grep -q "$cargo_fuzz_version"; then
    echo "installing cargo-fuzz $cargo_fuzz_version"
    cargo install cargo-fuzz --version "$cargo_fuzz_version" --locked
fi

export RUSTC_BOOTSTRAP=1
cd fuzz
targets=${FUZZ_TARGETS:-$(cargo fuzz list)}
start=$(date +%s)
if [ -z "${FUZZ_TARGETS:-}" ]; then
    cargo fuzz build --sanitizer "$sanitizer"
else
    for t in $targets; do cargo fuzz build --sanitizer "$sanitizer" "$t"; done
fi
triple=$(rustc -vV | sed -n 's/^host: //p')
for t in $targets; do
    [ -x "target/$triple/release/$t" ] || { echo "fuzz target $t was not built"; exit 1; }
done
echo "fuzz build: $(( $(date +%s) - start )) s"

python3 seed.py
status=0
for t in $targets; do
    mkdir -p "corpus/$t" "artifacts/$t"
    t0=$(date +%s)
    log="artifacts/$t/last-run.log"
    # -timeout: one input taking over 10 s is a failure (a hang on input).
    # -rss_limit_mb: an input needing over 2 GiB is a failure.
    if cargo fuzz run --sanitizer "$sanitizer" "$t" "corpus/$t" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 >"$log" 2>&1; then
        stats=$(grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb' "$log" | tr '\n' ' ')
        cov=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1)
        echo "fuzz $t: ok in $(( $(date +%s) - t0 )) s; $cov; $stats"
    else
        status=1
        echo "fuzz $t: FAILED (input in fuzz/artifacts/$t/); last lines of the log:"
        tail -n 40 "$log"
    fi
done
exit $status
