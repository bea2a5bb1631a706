#!/bin/sh
# Mosquitto for docker-compose.yml, reloaded whenever a file it reads from its secrets
# folder changes: the pki-renewer service re-signs the CRL every ~15 days and
# `make-secrets.sh --broker-only` rewrites the password file and ACL, and Mosquitto 2.0
# re-reads all of them (and its certificate) on SIGHUP, which no other container may send.
#
# Environment (defaults are the container's paths):
#   MOSQUITTO_BIN   /usr/sbin/mosquitto
#   MOSQUITTO_CONF  /mosquitto/config/mosquitto.conf
#   WATCH_DIR       /mosquitto/secrets
#   WATCH_EVERY_S   60
set -u
bin="${MOSQUITTO_BIN:-/usr/sbin/mosquitto}"
conf="${MOSQUITTO_CONF:-/mosquitto/config/mosquitto.conf}"
dir="${WATCH_DIR:-/mosquitto/secrets}"
every="${WATCH_EVERY_S:-60}"

fingerprint() {
    cat "$dir"/* 2>/dev/null | cksum
}

"$bin" -c "$conf" &
broker=$!
stopping=""
sleeper=""
stop() {
    stopping=1
    kill -TERM "$broker" 2>/dev/null
    [ -n "$sleeper" ] && kill "$sleeper" 2>/dev/null
}
trap stop TERM INT

last=$(fingerprint)
while [ -z "$stopping" ] && kill -0 "$broker" 2>/dev/null; do
    sleep "$every" &
    sleeper=$!
    wait "$sleeper"
    sleeper=""
    [ -n "$stopping" ] && break
    now=$(fingerprint)
    if [ "$now" != "$last" ]; then
        last=$now
        echo "run.sh: files in $dir changed, sending mosquitto SIGHUP"
        kill -HUP "$broker" 2>/dev/null
    fi
done
status=0
while kill -0 "$broker" 2>/dev/null; do
    wait "$broker"
    status=$?
done
exit "$status"
