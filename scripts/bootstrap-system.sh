#!/usr/bin/env bash
# Installs the Debian packages Trygg's local stack and tests need, if any are missing.
# Needs root (or sudo). Safe to run again: it installs nothing that is already there.
set -euo pipefail
need=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/bin/$1" ]; }
have mosquitto || need+=(mosquitto mosquitto-clients)
have influxd || need+=(influxdb)
have influx || need+=(influxdb-client)
have chromium || need+=(chromium)
have docker-compose || need+=(docker-compose)
have openssl || need+=(openssl)
have nginx || need+=(nginx-light)  # the compose stack's TLS proxy, run by tests/deploy
have envsubst || need+=(gettext-base)
have curl || need+=(curl)
[ -x /usr/lib/postgresql/15/bin/initdb ] || need+=(postgresql)
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
