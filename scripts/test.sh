#!/usr/bin/env bash
# The README's test command, and exactly what CI runs (.ci/run calls it):
# installs every tool the suite needs, then lints, type-checks and runs the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# Real components the tests run against, from Debian: promtool and the Prometheus server
# (package "prometheus"), the Pushgateway (package "prometheus-pushgateway"), openssl,
# Chromium (headless, for the live page), and Go with client_golang and client_model.
missing=()
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
command -v prometheus-pushgateway >/dev/null 2>&1 || missing+=(prometheus-pushgateway)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)  # throwaway TLS certificates
command -v chromium >/dev/null 2>&1 || missing+=(chromium)  # tests/chromium.py drives it
# client_golang 1.14 as the oracle for native histograms: tests/client_golang.py builds
# tests/go_oracle/ offline in GOPATH mode against these Debian packages.
gocode=/usr/share/gocode/src/github.com/prometheus
command -v go >/dev/null 2>&1 || missing+=(golang-go)
[ -d "$gocode/client_golang/prometheus" ] || missing+=(golang-github-prometheus-client-golang-dev)
[ -d "$gocode/client_model/go" ] || missing+=(golang-github-prometheus-client-model-dev)
if [ ${#missing[@]} -gt 0 ]; then
  as_root apt-get update
  as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends "${missing[@]}"
fi

python3 -m pip install --quiet --disable-pip-version-check -e '.[test]'

python3 -m ruff check .
python3 -m ruff format --check .
python3 -m mypy --strict
python3 -m pytest "$@"
