#!/usr/bin/env bash
# Makes sure the machine has what mailbridge's tests need, and starts what is not running:
# - Debian's chromium (the browser tests drive it through playwright-core; Playwright's own browser
#   download cannot work offline);
# - a PostgreSQL server answering on 127.0.0.1:5432 (store tests run on SQLite and PostgreSQL);
# - the toolchain to build better-sqlite3 from source (no prebuilt binaries can be downloaded here).
# Idempotent: on a machine that already has everything it changes nothing.
set -euo pipefail

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
apt_updated=0
apt_install() {
  if [ "$apt_updated" -eq 0 ]; then as_root apt-get update -qq; apt_updated=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

command -v chromium >/dev/null 2>&1 || { echo "provision: installing chromium"; apt_install chromium; }
command -v g++ >/dev/null 2>&1 && command -v make >/dev/null 2>&1 || apt_install build-essential python3

pg_answers() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
if ! pg_answers; then
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    echo "provision: installing postgresql"
    apt_install postgresql
  fi
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  echo "provision: starting PostgreSQL $version"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 30); do pg_answers && break; sleep 1; done
  pg_answers || { echo "provision: PostgreSQL does not answer on 127.0.0.1:5432" >&2; exit 1; }
fi

# The tests connect as the postgres superuser over TCP; a fresh Debian cluster only trusts local
# peers, so allow trust on loopback for this throwaway test server when needed.
if ! psql -h 127.0.0.1 -U postgres -d postgres -Atc 'select 1' >/dev/null 2>&1; then
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  hba="/etc/postgresql/$version/main/pg_hba.conf"
  echo "provision: allowing trust auth on loopback in $hba"
  as_root sed -i -E 's/^(host\s+all\s+all\s+127\.0\.0\.1\/32\s+)\S+/\1trust/; s/^(host\s+all\s+all\s+::1\/128\s+)\S+/\1trust/' "$hba"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main reload
fi
psql -h 127.0.0.1 -U postgres -d postgres -Atc "select 1 from pg_database where datname='test'" | grep -q 1 ||
  psql -h 127.0.0.1 -U postgres -d postgres -c 'create database test' >/dev/null
echo "provision: chromium $(chromium --version 2>/dev/null | awk '{print $2}'), PostgreSQL answering on 127.0.0.1:5432"
