#!/usr/bin/env bash
# Makes sure a PostgreSQL server answers on 127.0.0.1:5432 for the tests:
# starts the local cluster if it is installed but stopped, installs it from
# Debian's packages if it is absent. Fails loudly: the storage tests must
# never silently skip Postgres.
set -euo pipefail

ready() { pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; }

if command -v pg_isready >/dev/null && ready; then
  exit 0
fi

sudo_() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
  echo "ensure-postgres: PostgreSQL is not installed; installing it with apt-get" >&2
  sudo_ env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  installed_here=1
fi

version=$(ls /etc/postgresql | sort -V | tail -n 1)
echo "ensure-postgres: starting PostgreSQL $version" >&2
if [ "${installed_here:-}" = 1 ]; then
  # A cluster we just installed for tests: let local TCP connections in
  # without a password, as on the CI machines (loopback only).
  hba=/etc/postgresql/$version/main/pg_hba.conf
  sudo_ sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
fi
sudo_ pg_ctlcluster --skip-systemctl-redirect "$version" main start || true

for _ in $(seq 1 30); do
  if ready; then break; fi
  sleep 1
done
if ! ready; then
  echo "ensure-postgres: PostgreSQL does not answer on 127.0.0.1:5432; the tests need it" >&2
  exit 1
fi

# The tests connect as the current OS user over TCP with trust auth (the
# default here). Make sure that role exists and may create databases.
user=$(id -un)
if ! psql -h 127.0.0.1 -U "$user" -d postgres -tAc 'select 1' >/dev/null 2>&1; then
  sudo_ su postgres -c "psql -tAc \"CREATE ROLE \\\"$user\\\" LOGIN SUPERUSER\"" >/dev/null 2>&1 || true
  sudo_ su postgres -c "createdb -O \"$user\" \"$user\"" >/dev/null 2>&1 || true
fi
if ! psql -h 127.0.0.1 -U "$user" -d postgres -tAc 'select 1' >/dev/null 2>&1; then
  echo "ensure-postgres: cannot connect to PostgreSQL as $user on 127.0.0.1 (check pg_hba.conf trust for local TCP)" >&2
  exit 1
fi
