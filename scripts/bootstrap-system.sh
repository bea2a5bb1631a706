#!/usr/bin/env bash
# Installs the Debian 12 packages Trygg's local stack, tests and demo need, if any are missing.
# Needs root (or sudo). Safe to run again: it installs nothing that is already there.
# Checked on a fresh `debootstrap --variant=minbase bookworm` (see docs/testing.md).
set -euo pipefail
packages=(
  # Python 3.11 and what `make venv` needs (ensurepip, a trusted store for pip over HTTPS)
  python3 python3-venv ca-certificates make git
  # the local stack: broker and time series, with their command-line clients
  mosquitto mosquitto-clients influxdb influxdb-client
  # PostgreSQL server binaries (the tests start their own server) and the postgres user
  postgresql
  # the crew-page browser test: Chromium, and libatomic for Playwright's bundled node
  chromium libatomic1
  # certificates for devices and the broker; the production-shaped compose file's checker
  openssl docker-compose
  # the compose stack's TLS proxy, run by tests/deploy (nginx, envsubst, curl)
  nginx-light gettext-base curl
)
if ! command -v dpkg-query >/dev/null; then
  echo "not a Debian system: install the equivalents of: ${packages[*]}" >&2
  exit 1
fi
need=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
# The crew page's map and accessibility-check libraries come from the npm registry; a
# Node.js from elsewhere (NodeSource) brings its own npm and conflicts with Debian's.
command -v npm >/dev/null || need+=(npm)
if [ ${#need[@]} -eq 0 ]; then
  echo "system packages: all present"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "need root or sudo to install: ${need[*]}" >&2; exit 1; }
  SUDO=sudo
fi
echo "installing Debian packages: ${need[*]}"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${need[@]}"
