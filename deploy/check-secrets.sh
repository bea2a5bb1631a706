#!/bin/sh
# Refuse to start the production stack with missing, short or well-known secrets.
# Usage: check-secrets.sh NAME... (names of environment variables holding secrets).
# Exit 0 when every one is set, at least 16 characters and no known default; else 1,
# naming each offending variable (never printing a value).
min=16
bad=0
for name in "$@"; do
    eval "value=\${$name:-}"
    lowered=$(printf '%s' "$value" | tr '[:upper:]' '[:lower:]')
    if [ -z "$value" ]; then
        echo "preflight: $name is empty (run deploy/make-secrets.sh)" >&2
        bad=1
        continue
    fi
    if [ "${#value}" -lt "$min" ]; then
        echo "preflight: $name is shorter than $min characters" >&2
        bad=1
    fi
    case "$lowered" in
        *change*me* | *changeme* | *password* | *secret* | admin* | *example* | *default* | trygg* | test* | *123456* | *qwerty*)
            echo "preflight: $name looks like a default or placeholder" >&2
            bad=1
            ;;
    esac
done
if [ "$bad" -ne 0 ]; then
    echo "preflight: refusing to start; fix .env (see docs/install.md)" >&2
    exit 1
fi
echo "preflight: $# secrets present and not defaults"
