#!/usr/bin/env bash
# Checks the REST API against its own OpenAPI document with schemathesis
# (PyPI, pinned) on a real `tuki serve` over a fresh SQLite desk: every
# operation is called with generated valid and invalid requests, then in
# stateful sequences, within a bounded budget. The run fails on any server
# error (5xx), any status, header or body the document does not describe,
# any schema-violating request that is accepted, any undeclared method that
# answers, and any operation that takes a request without its token.
#
# Not checked: `positive_data_acceptance` (a request valid by the schema must
# be accepted). Tuki's rules go further than a schema can say (an email must
# be an address, a group must exist, a tier is 1 to 3 but a name must not be
# blank after trimming, …) and answer 422 naming the field, which is right.
#
# Usage: scripts/schemathesis.sh [path/to/tuki]   (default: the debug build)
set -euo pipefail
cd "$(dirname "$0")/.."
TUKI="${1:-${CARGO_TARGET_DIR:-target}/debug/tuki}"
VERSION=4.32.5
VENV="${TMPDIR:-/tmp}/tuki-schemathesis-$VERSION"
if ! "$VENV/bin/schemathesis" --version >/dev/null 2>&1; then
    echo "schemathesis.sh: installing schemathesis $VERSION into $VENV" >&2
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q "schemathesis==$VERSION"
fi

DATA="$(mktemp -d "${TMPDIR:-/tmp}/tuki-st.XXXXXX")"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
cleanup() { [ -n "${SERVER:-}" ] && kill "$SERVER" 2>/dev/null; rm -rf "$DATA"; }
trap cleanup EXIT
export TUKI_DATA_DIR="$DATA" TUKI_LOG=error
unset TUKI_DATABASE_URL TUKI_SMTP_URL
echo "a password for the schemathesis run" | "$TUKI" user create --email admin@st.test --name Admin \
    --role admin --password-stdin >/dev/null
TOKEN="$("$TUKI" token create --email admin@st.test --name schemathesis)"
"$TUKI" serve --listen "127.0.0.1:$PORT" >"$DATA/serve.out" 2>"$DATA/serve.log" &
SERVER=$!
for _ in $(seq 100); do grep -q "listening on" "$DATA/serve.out" 2>/dev/null && break; sleep 0.1; done

# The token's own revocation is left out: the run would lock itself out.
"$VENV/bin/schemathesis" run "http://127.0.0.1:$PORT/api/v1/openapi.json" \
    --url "http://127.0.0.1:$PORT" \
    -H "Authorization: Bearer $TOKEN" \
    --checks all --exclude-checks positive_data_acceptance \
    --exclude-operation-id revoke_token \
    --max-examples "${TUKI_SCHEMATHESIS_EXAMPLES:-25}" --max-time 600 --workers 2 \
    --seed 20261130 --no-color
if grep -q "panicked" "$DATA/serve.log"; then
    echo "schemathesis.sh: the server panicked:" >&2
    grep -A5 panicked "$DATA/serve.log" >&2
    exit 1
fi
