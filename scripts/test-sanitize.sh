#!/usr/bin/env bash
# make test-sanitize: the unit tests and the whole integration suite against the gateway
# built with AddressSanitizer (+ LeakSanitizer) in .build-asan and ThreadSanitizer in
# .build-tsan. Any sanitizer report fails the run: the gateway exits with 86 at the first
# one, and the integration harness fails a test whose gateway logged a report or crashed.
#   scripts/test-sanitize.sh [address] [thread]      (default: both)
# Suppressions, each with its reason, are in scripts/sanitizers/: only findings inside
# FoundationNetworking, libcurl or libfcgi may be suppressed, never our own code.
set -uo pipefail
cd "$(dirname "$0")/.."

sanitizers=("$@")
((${#sanitizers[@]})) || sanitizers=(address thread)
suppressions=$PWD/scripts/sanitizers

# Swift's crash reporter would symbolicate for minutes and race the sanitizer's report.
export SWIFT_BACKTRACE=enable=no
export ASAN_OPTIONS="halt_on_error=1:exitcode=86:detect_leaks=1:detect_stack_use_after_return=0:strict_string_checks=1"
export LSAN_OPTIONS="suppressions=$suppressions/lsan.supp:print_suppressions=0:exitcode=86"
export TSAN_OPTIONS="halt_on_error=1:exitcode=86:suppressions=$suppressions/tsan.supp:print_suppressions=0:second_deadlock_stack=1"

failed=()
for sanitizer in "${sanitizers[@]}"; do
    case $sanitizer in
    address) scratch=.build-asan ;;
    thread) scratch=.build-tsan ;;
    *) echo "test-sanitize: unknown sanitizer $sanitizer (address, thread)" >&2; exit 64 ;;
    esac
    flags=(--scratch-path "$scratch" --sanitize="$sanitizer")
    started=$SECONDS
    echo "test-sanitize: $sanitizer: building in $scratch"
    mkdir -p "$scratch"
    swift build --build-tests "${flags[@]}" >"$scratch/build.log" 2>&1
    status=$?
    # ld.gold's note about an ASan runtime symbol is not ours to fix.
    grep -v "Cannot export local symbol '__asan_extra_spill_area'" "$scratch/build.log" | tail -n 20
    if ((status != 0)); then
        failed+=("$sanitizer build")
        continue
    fi
    built=$SECONDS
    echo "test-sanitize: $sanitizer: unit tests"
    swift test --skip-build "${flags[@]}" 2>&1 | tail -n 40
    ((PIPESTATUS[0] == 0)) || failed+=("$sanitizer unit")
    for transport in ${TRANSPORTS:-curl urlsession}; do
        echo "test-sanitize: $sanitizer: integration tests, transport $transport"
        log=$scratch/integration-$transport.log
        integration() {
            GATEWAY_TRANSPORT=$transport GATEWAY_BIN=$PWD/$scratch/debug/fcgi-pass-through \
                python3 -m pytest Tests/IntegrationTests -q 2>&1 |
                tee -a "$log"
            return "${PIPESTATUS[0]}"
        }
        : >"$log"
        if ! integration; then
            # A sanitized gateway runs several times slower, so a latency bound can miss on
            # a busy machine: the suite gets one more run. A sanitizer report never does.
            if grep -qE "(Address|Leak|Thread)Sanitizer" "$log"; then
                failed+=("$sanitizer integration ($transport): sanitizer report")
            else
                echo "test-sanitize: $sanitizer: a test failed without a sanitizer report: running the suite again"
                integration || failed+=("$sanitizer integration ($transport)")
            fi
        fi
    done
    echo "test-sanitize: $sanitizer: build $((built - started)) s, tests $((SECONDS - built)) s"
done
if ((${#failed[@]})); then
    echo "test-sanitize: FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "test-sanitize: clean (${sanitizers[*]})"
