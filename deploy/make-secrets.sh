#!/bin/sh
# Make the secrets of Trygg's production stack (docker-compose.yml):
#   1. .env from .env.example, every empty value filled with a random 32-character secret;
#   2. the broker's files, through the fleet's own provisioning (`trygg provision broker`,
#      edge/provision.py): fleet CA, broker TLS key and certificate for --broker-host,
#      the hub's broker password, the password file, the ACL and the CRL;
#   3. copies of what each container may read: deploy/secrets/broker/ (Mosquitto) and
#      deploy/secrets/hub/ (the hub: the CA certificate and its broker password);
#   4. the HTTPS proxy's certificate for --https-host (default: the broker host) in
#      deploy/secrets/proxy/, through deploy/make-tls.sh: the operator's --tls-cert and
#      --tls-key, or else one signed by an internal CA kept in PKI/https.
# The CAs' private keys stay in the provisioning folder (default deploy/pki), which only
# the pki-renewer service mounts (it re-signs the CRL; docs/certificates.md); the hub
# reads its public/ subfolder (certificates and the CRL, no keys). Run again with
# --broker-only after provisioning or revoking devices; Mosquitto reloads by itself
# within a minute.
#
# Usage: deploy/make-secrets.sh --broker-host mqtt.example.org [--https-host NAME]
#                                [--tls-cert FILE --tls-key FILE] [--pki DIR] [--force]
#                                [--broker-only] [--trygg CMD]
set -eu
cd "$(dirname "$0")/.."

host=""
https_host=""
tls_cert=""
tls_key=""
pki="deploy/pki"
force=0
broker_only=0
trygg="${TRYGG:-}"
while [ $# -gt 0 ]; do
    case "$1" in
        --broker-host) host="$2"; shift 2 ;;
        --https-host) https_host="$2"; shift 2 ;;
        --tls-cert) tls_cert="$2"; shift 2 ;;
        --tls-key) tls_key="$2"; shift 2 ;;
        --pki) pki="$2"; shift 2 ;;
        --force) force=1; shift ;;
        --broker-only) broker_only=1; shift ;;
        --trygg) trygg="$2"; shift 2 ;;
        *) echo "make-secrets: unknown argument $1" >&2; exit 2 ;;
    esac
done
if [ -z "$trygg" ]; then
    if [ -x .venv/bin/trygg ]; then trygg=.venv/bin/trygg; else trygg=trygg; fi
fi
umask 077

random_secret() {
    openssl rand -base64 48 | tr -d '/+=\n' | cut -c1-32
}

if [ "$broker_only" -eq 0 ]; then
    [ -n "$host" ] || { echo "make-secrets: --broker-host NAME is required" >&2; exit 2; }
    https_host="${https_host:-$host}"
    if [ -e .env ] && [ "$force" -eq 0 ]; then
        echo "make-secrets: .env exists; keep it, or pass --force to replace every secret" >&2
        exit 1
    fi
    tmp=$(mktemp .env.XXXXXX)
    while IFS= read -r line || [ -n "$line" ]; do
        case "$line" in
            MQTT_PUBLIC_HOST=*) echo "MQTT_PUBLIC_HOST=$host" ;;
            TRYGG_PKI_USER=*) echo "TRYGG_PKI_USER=$(id -u):$(id -g)" ;;
            TRYGG_PKI_GID=*) echo "TRYGG_PKI_GID=$(id -g)" ;;
            HTTPS_PUBLIC_HOST=*) echo "HTTPS_PUBLIC_HOST=$https_host" ;;
            [A-Z]*=) echo "${line}$(random_secret)" ;;
            *) echo "$line" ;;
        esac
    done < .env.example > "$tmp"
    mv "$tmp" .env
    echo "make-secrets: wrote .env"
    if [ -n "$tls_cert" ] || [ -n "$tls_key" ]; then
        sh deploy/make-tls.sh --host "$https_host" --cert "$tls_cert" --key "$tls_key"
    else
        sh deploy/make-tls.sh --host "$https_host" --ca-dir "$pki/https"
    fi
else
    host=$(sed -n 's/^MQTT_PUBLIC_HOST=//p' .env)
fi

"$trygg" provision broker --secrets "$pki" --broker-host "$host"
# the issuing CA the hub signs poles' renewals with; its folder is shared with the hub's
# group (TRYGG_PKI_GID), which must read its key and record what it signs
"$trygg" provision issuing-ca --secrets "$pki" >/dev/null
chmod -R g+rwX "$pki/issuing"
find "$pki/issuing" -type d -exec chmod g+s {} +

install -d -m 0755 deploy/secrets/broker deploy/secrets/hub
for f in passwd acl broker.crt broker.key crl.pem ca.crt; do
    install -m 0644 "$pki/broker/$f" "deploy/secrets/broker/$f"
done
install -m 0644 "$pki/broker/ca.crt" deploy/secrets/hub/ca.crt
install -m 0644 "$pki/hub/password" deploy/secrets/hub/mqtt-password
chmod 0700 deploy/secrets
echo "make-secrets: broker files in deploy/secrets/ (Mosquitto reloads them within a minute)"
