#!/usr/bin/env bash
# Builds the libFuzzer targets in Fuzz/ and runs each for SECONDS (default 600).
#   scripts/fuzz.sh [SECONDS] [TARGET...]     e.g. scripts/fuzz.sh 30 fuzz-config
# Each target starts from its committed seeds (Fuzz/Corpus/<target>) plus what earlier
# runs found on this machine (.build-fuzz/corpus/<target>, not committed). A crash,
# timeout or out-of-memory stops with a non-zero exit and leaves the input in
# .build-fuzz/artifacts/<target>/; rerun it with `.build-fuzz/release/<target> <file>`.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-600}
shift || true
targets=("$@")
((${#targets[@]})) || targets=(fuzz-config fuzz-request fuzz-usage)
scratch=$PWD/.build-fuzz

# `--sanitize=fuzzer` rather than `-Xswiftc -sanitize=fuzzer`: only then does SwiftPM
# leave `main` to libFuzzer instead of renaming it to the executable module's entry point.
# Release, because coverage is only instrumented when optimising. With the sanitizers,
# Swift 6.3.1's SIL loop-invariant code motion pass spends over 20 minutes on the
# gateway library (a normal release build takes one), so the fuzz build skips that pass.
# No dead stripping: the release link's --gc-sections can drop the coverage counters
# (a target then runs blind, "no interesting inputs"), so the build and the check
# below make sure they are there.
# One `-sanitize=fuzzer,address` for swiftc: given `--sanitize` twice, SwiftPM passes
# two `-sanitize=` flags in an order that varies from run to run, and swiftc keeps only
# the last, so a build had either coverage or ASan, never both.
mkdir -p "$scratch"
if ! (cd Fuzz && swift build -c release --scratch-path "$scratch" --disable-dead-strip \
    --sanitize=fuzzer -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library \
    -Xswiftc -Xllvm -Xswiftc -sil-disable-pass=loop-invariant-code-motion) >"$scratch/build.log" 2>&1; then
    cat "$scratch/build.log" >&2
    exit 1
fi
bin=$scratch/release

# Swift's own crash reporter would symbolicate every crash for minutes; libFuzzer and
# ASan print the stack themselves.
export SWIFT_BACKTRACE=enable=no
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}

failed=0
for target in "${targets[@]}"; do
    [ -x "$bin/$target" ] || { echo "fuzz: $bin/$target was not built" >&2; exit 1; }
    corpus=$scratch/corpus/$target
    artifacts=$scratch/artifacts/$target
    mkdir -p "$corpus" "$artifacts"
    log=$scratch/$target.log
    # A target built without coverage would "pass" while exploring nothing.
    # (The first directory receives new inputs: never the committed seeds.)
    probe=$("$bin/$target" -runs=0 "$corpus" "Fuzz/Corpus/$target" 2>&1 || true)
    if ! grep -q "INITED cov: " <<<"$probe"; then
        echo "fuzz: $bin/$target has no coverage instrumentation" >&2
        exit 1
    fi
    # (grep -c, not -q: -q would stop reading and fail nm with SIGPIPE under pipefail)
    if ! nm "$bin/$target" | grep -c " __asan_init" >/dev/null; then
        echo "fuzz: $bin/$target is not built with AddressSanitizer" >&2
        exit 1
    fi
    echo "fuzz: $target for ${seconds}s (log: $log)"
    # -timeout: an input taking 60 s is a hang (generous: this machine sometimes stalls
    # every process for about 20 s, and a seed input runs in milliseconds);
    # -rss_limit_mb: a memory blow-up is a finding.
    if "$bin/$target" "$corpus" "Fuzz/Corpus/$target" \
        -dict="Fuzz/Dictionaries/$target.dict" -max_total_time="$seconds" -timeout=60 -rss_limit_mb=2048 \
        -max_len=4096 -print_final_stats=1 -artifact_prefix="$artifacts/" >"$log" 2>&1; then
        grep -E "^stat::(number_of_executed_units|average_exec_per_sec|new_units_added)|^#[0-9]+[[:space:]]+DONE" "$log" |
            sed "s/^/fuzz: $target: /"
    else
        failed=1
        echo "fuzz: $target FAILED; the end of its log:" >&2
        tail -n 60 "$log" >&2
    fi
done
exit $failed
