#!/usr/bin/env bash
# Runs nginx on 127.0.0.1:4000 in front of gateway instances, in the foreground.
# Ctrl-C (or SIGTERM) stops everything this script started.
#
#   scripts/run-stack.sh [CONFIG] [INSTANCES]
#
# The sockets are the ones nginx/nginx.conf lists: /tmp/fcgi-pass-through/gateway-N.sock.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
config=$(realpath "${1:-config.yaml}")
instances=${2:-2}
bin="$root/.build/release/fcgi-pass-through"
sockets=/tmp/fcgi-pass-through
prefix="$root/.run/nginx"
threads=${GATEWAY_THREADS:-64}
# Two instances (one per nginx upstream line) of this many supervised worker processes;
# workers are replaced after --max-requests (default 100000) to bound memory growth.
workers=${GATEWAY_WORKERS:-2}

# Refuse early, naming every problem (unset variables included), exactly as the gateway would.
if ! "$bin" --test-config --config "$config"; then
    echo "fix the problems above (for unset variables: export them, e.g. export COHERE_API_KEY=...) and run again" >&2
    exit 78
fi

mkdir -p "$sockets" "$prefix"
chmod 755 "$sockets"
pids=()
cleanup() {
    trap - INT TERM EXIT
    echo "stopping..."
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup INT TERM EXIT

for i in $(seq 1 "$instances"); do
    "$bin" --config "$config" --socket "unix:$sockets/gateway-$i.sock" --threads "$threads" --workers "$workers" &
    pids+=($!)
done
for i in $(seq 1 "$instances"); do
    for _ in $(seq 1 100); do [ -S "$sockets/gateway-$i.sock" ] && break; sleep 0.05; done
    [ -S "$sockets/gateway-$i.sock" ] || { echo "gateway $i did not start" >&2; exit 1; }
done

nginx -p "$prefix/" -c "$root/nginx/nginx.conf" -e stderr &
pids+=($!)
echo "serving on http://127.0.0.1:4000 ($instances gateway instances × $workers workers × $threads threads); Ctrl-C stops"
wait -n "${pids[@]}" || true
