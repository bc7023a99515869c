#!/usr/bin/env bash
# Installs the Debian packages the gateway builds and runs with, and pytest for the
# integration suite. Only what is missing is installed, so repeated runs are fast.
set -euo pipefail

# spawn-fcgi, libfcgi-bin (cgi-fcgi) and systemd (systemd-analyze) serve the deploy tests;
# postgresql and redis-server the shared-state tests, which start their own servers.
packages=(libfcgi-dev libyaml-dev libcurl4-openssl-dev libssl-dev libsqlite3-dev libpq-dev libhiredis-dev postgresql redis-server nginx curl spawn-fcgi libfcgi-bin systemd "$@")
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "installing: ${missing[*]}"
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! python3 -c 'import pytest' 2>/dev/null; then
    echo "installing: pytest"
    python3 -m pip install -q pytest
fi
command -v swift >/dev/null || { echo "swift is not on PATH: install Swift 6 (swift.org) first" >&2; exit 1; }
