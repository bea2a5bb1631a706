#!/bin/bash
# InfluxDB 2.x first-start set-up for Trygg (run once by the image's entrypoint, after
# DOCKER_INFLUXDB_INIT_MODE=setup created the org, the raw bucket and the admin token).
#
# The hub and Grafana speak InfluxQL over the v1 API, so:
# - a roll-up bucket next to the raw one, and DBRP mappings that make database "trygg"
#   with retention policies "raw" (default) and "rollup" point at the two buckets;
# - v1 users with passwords from .env: the hub (read/write) and Grafana (read only).
# Roll-ups: InfluxDB 2.x has no continuous queries; see docs/install.md.
set -euo pipefail

: "${DOCKER_INFLUXDB_INIT_ORG:?}" "${DOCKER_INFLUXDB_INIT_BUCKET:?}"
: "${TRYGG_INFLUX_DB:?}" "${INFLUX_HUB_USER:?}" "${INFLUX_HUB_PASSWORD:?}"
: "${INFLUX_GRAFANA_USER:?}" "${INFLUX_GRAFANA_PASSWORD:?}"

org="$DOCKER_INFLUXDB_INIT_ORG"
# The entrypoint exports the new bucket's id to init scripts; look it up if it did not.
raw="${DOCKER_INFLUXDB_INIT_BUCKET_ID:-$(influx bucket list --org "$org" \
  --name "$DOCKER_INFLUXDB_INIT_BUCKET" --hide-headers | awk '{print $1}')}"
rollup=$(influx bucket create --org "$org" --name trygg-rollup --retention 1825d \
  --hide-headers | awk '{print $1}')

influx v1 dbrp create --org "$org" --db "$TRYGG_INFLUX_DB" --rp raw --bucket-id "$raw" --default
influx v1 dbrp create --org "$org" --db "$TRYGG_INFLUX_DB" --rp rollup --bucket-id "$rollup"

influx v1 auth create --org "$org" --username "$INFLUX_HUB_USER" \
  --password "$INFLUX_HUB_PASSWORD" \
  --read-bucket "$raw" --write-bucket "$raw" --read-bucket "$rollup" --write-bucket "$rollup"
influx v1 auth create --org "$org" --username "$INFLUX_GRAFANA_USER" \
  --password "$INFLUX_GRAFANA_PASSWORD" --read-bucket "$raw" --read-bucket "$rollup"
echo "trygg: buckets, DBRP mappings and v1 users ready"
