#!/usr/bin/env bash
# Runs Tuki's whole test suite: unit and property tests, every store and API
# test on SQLite *and* PostgreSQL, and the OpenAPI snapshot.
#
# It installs what is missing (Debian's PostgreSQL), starts a throwaway
# PostgreSQL cluster on a free loopback port in a temporary folder, and
# removes it afterwards. Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/tuki-target}"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {
    echo "test.sh: installing $*" >&2
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
if [ -z "$(pg_bin)" ] || [ ! -x "$(pg_bin)/initdb" ]; then
    apt_install postgresql
fi
PGBIN="$(pg_bin)"

# --- a throwaway PostgreSQL cluster ------------------------------------------
PGTMP="$(mktemp -d /tmp/tuki-pg.XXXXXX)"
PGPORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
# PostgreSQL refuses to run as root; run it as the postgres system user then.
if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
    chown postgres "$PGTMP"
    pg() { runuser -u postgres -- "$@"; }
else
    pg() { "$@"; }
fi
cleanup() {
    pg "$PGBIN/pg_ctl" -D "$PGTMP/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$PGTMP"
}
trap cleanup EXIT
pg "$PGBIN/initdb" -D "$PGTMP/data" -U tuki --auth=trust -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null
# Durability settings off: this cluster lives for one test run.
pg "$PGBIN/pg_ctl" -D "$PGTMP/data" -l "$PGTMP/server.log" -w -o \
    "-p $PGPORT -k $PGTMP -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400" \
    start >/dev/null
export TUKI_TEST_POSTGRES_URL="postgres://tuki@127.0.0.1:$PGPORT/postgres"
echo "test.sh: PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PGPORT" >&2

# --- a real SMTP server for the outbox tests -----------------------------------
# Python's aiosmtpd from PyPI, in a virtual environment under the temporary
# folder (made once, reused by later runs). The store's outbox tests start it
# on loopback ports of their own (crates/tuki-store/tests/smtp/sink.py) and
# stop it; TUKI_TEST_PYTHON names the interpreter that has it.
# The same interpreter has PyPI's `icalendar`, the real iCalendar parser that
# reads the technicians' visit feeds in the web tests.
if python3 -c 'import aiosmtpd, icalendar' 2>/dev/null; then
    export TUKI_TEST_PYTHON="$(command -v python3)"
else
    SMTPVENV="${TMPDIR:-/tmp}/tuki-smtp-venv"
    if ! "$SMTPVENV/bin/python" -c 'import aiosmtpd, icalendar' 2>/dev/null; then
        echo "test.sh: installing aiosmtpd and icalendar into $SMTPVENV" >&2
        python3 -m venv "$SMTPVENV" 2>/dev/null || { apt_install python3-venv; python3 -m venv "$SMTPVENV"; }
        "$SMTPVENV/bin/pip" install -q aiosmtpd icalendar
    fi
    export TUKI_TEST_PYTHON="$SMTPVENV/bin/python"
fi

# --- a real IMAP server for the poller tests -----------------------------------
# Debian's Dovecot. The tests (crates/tuki/tests/it/imap.rs) run throwaway
# instances of their own: a configuration, Maildir and passwd file in a
# temporary folder, loopback only, a free port; the package's own service is
# not used. TUKI_TEST_DOVECOT names the binary.
if ! command -v dovecot >/dev/null && [ ! -x /usr/sbin/dovecot ]; then
    apt_install dovecot-imapd
fi
export TUKI_TEST_DOVECOT="$(command -v dovecot || echo /usr/sbin/dovecot)"

# --- certificates for the TLS tests ---------------------------------------------
# The mail TLS tests (IMAP and SMTP) make a throwaway CA and server
# certificate at run time with the openssl command-line tool.
command -v openssl >/dev/null || apt_install openssl

# --- the code's own checks ---------------------------------------------------
# Formatting and lints (warnings are errors), on the whole suite only, so
# `scripts/test.sh -p x` stays quick; TUKI_LINT=1 forces them, 0 skips them.
if [ "${TUKI_LINT:-}" = 1 ] || { [ "${TUKI_LINT:-}" != 0 ] && [ "$#" -eq 0 ]; }; then
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets --locked -- -D warnings
fi

# --- the tests ----------------------------------------------------------------
# --all-targets: unit, integration and binary tests (Tuki has no doc tests).
cargo test --workspace --locked --all-targets "$@"

# --- the browser suite ----------------------------------------------------------
# A real `tuki serve` driven through Debian's Chromium with npm's playwright-core
# (e2e/). Skipped when cargo was given a filter, so `scripts/test.sh -p x` stays
# quick; TUKI_E2E=1 forces it, TUKI_E2E=0 skips it.
if [ "${TUKI_E2E:-}" = 1 ] || { [ "${TUKI_E2E:-}" != 0 ] && [ "$#" -eq 0 ]; }; then
    [ -x /usr/bin/chromium ] || apt_install chromium
    command -v npm >/dev/null || apt_install nodejs npm
    cargo build -p tuki --locked
    (cd e2e && npm ci --no-audit --no-fund --loglevel=error)
    (cd e2e && node --test --test-concurrency=1)
fi
