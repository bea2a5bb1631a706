#!/bin/sh
# The HTTPS certificate of Trygg's TLS proxy (docker-compose service "proxy"): the API,
# Open311, the crew page and Grafana are served only over TLS with it.
#   - With --cert FILE --key FILE: the operator's certificate (full chain, PEM) and key are
#     checked to belong together and to name --host, then installed.
#   - Without: an internal CA (made once, kept in --ca-dir, which no container mounts) signs
#     a certificate for --host. Clients must trust OUT/ca.crt (install it on operators'
#     machines and crew phones), so a public certificate is the better choice on the internet.
# Output, for the proxy: OUT/server.crt and OUT/server.key (default deploy/secrets/proxy).
# Run again to renew, then: docker compose exec proxy nginx -s reload
#
# Usage: deploy/make-tls.sh --host NAME [--cert FILE --key FILE] [--ca-dir DIR] [--out DIR]
#                           [--days N]
set -eu

host=""
cert=""
key=""
ca_dir="state/pki/https"
out="deploy/secrets/proxy"
days=397
while [ $# -gt 0 ]; do
    case "$1" in
        --host) host="$2"; shift 2 ;;
        --cert) cert="$2"; shift 2 ;;
        --key) key="$2"; shift 2 ;;
        --ca-dir) ca_dir="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --days) days="$2"; shift 2 ;;
        *) echo "make-tls: unknown argument $1" >&2; exit 2 ;;
    esac
done
[ -n "$host" ] || { echo "make-tls: --host NAME is required" >&2; exit 2; }
if { [ -n "$cert" ] && [ -z "$key" ]; } || { [ -z "$cert" ] && [ -n "$key" ]; }; then
    echo "make-tls: --cert and --key go together" >&2
    exit 2
fi
case "$host" in
    *[!A-Za-z0-9.:-]* | -* | "") echo "make-tls: --host $host is not a host name or address" >&2; exit 2 ;;
esac
case "$host" in
    *[!0-9.]*) case "$host" in *:*) san="IP:$host" ;; *) san="DNS:$host" ;; esac ;;
    *) san="IP:$host" ;;
esac
umask 077
install -d -m 0700 "$out"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/make-tls.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

if [ -n "$cert" ]; then
    pub_cert=$(openssl x509 -in "$cert" -noout -pubkey) || { echo "make-tls: $cert is not a PEM certificate" >&2; exit 1; }
    pub_key=$(openssl pkey -in "$key" -pubout) || { echo "make-tls: $key is not a PEM private key" >&2; exit 1; }
    if [ "$pub_cert" != "$pub_key" ]; then
        echo "make-tls: $key is not the key of $cert" >&2
        exit 1
    fi
    case "$san" in IP:*) check="-checkip" ;; *) check="-checkhost" ;; esac
    if ! openssl x509 -in "$cert" -noout "$check" "$host" | grep -q " does match "; then
        echo "make-tls: $cert does not name $host" >&2
        exit 1
    fi
    cp "$cert" "$tmp/server.crt"
    cp "$key" "$tmp/server.key"
    echo "make-tls: installing the operator's certificate for $host"
else
    install -d -m 0700 "$ca_dir"
    if [ ! -s "$ca_dir/ca.key" ]; then
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
            -keyout "$ca_dir/ca.key" -out "$ca_dir/ca.crt" -days 3650 \
            -subj "/CN=Trygg internal HTTPS CA" \
            -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
            -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
        echo "make-tls: made the internal CA in $ca_dir (keep ca.key off the server)"
    fi
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$tmp/server.key" -out "$tmp/server.csr" -subj "/CN=$host" 2>/dev/null
    printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\nbasicConstraints=critical,CA:FALSE\n' \
        "$san" > "$tmp/ext.cnf"
    openssl x509 -req -in "$tmp/server.csr" -CA "$ca_dir/ca.crt" -CAkey "$ca_dir/ca.key" \
        -CAcreateserial -out "$tmp/server.crt" -days "$days" -extfile "$tmp/ext.cnf" 2>/dev/null
    cat "$ca_dir/ca.crt" > "$out/ca.crt"
    chmod 0644 "$out/ca.crt"
    echo "make-tls: signed a certificate for $host with the internal CA; clients trust $out/ca.crt"
fi
install -m 0644 "$tmp/server.crt" "$out/server.crt"
install -m 0600 "$tmp/server.key" "$out/server.key"
echo "make-tls: proxy certificate in $out/"
