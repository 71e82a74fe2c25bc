# Sourced by .ci/run: start the machine's PostgreSQL so that the PostgreSQL tests run.
#
# - LONGTAIL_TEST_POSTGRES_URL already set: that server is used as it is.
# - PostgreSQL installed (the CI image ships 15): it must start and accept the test role
#   longtail/longtail, or CI stops here with the reason. It is never silently skipped.
# - PostgreSQL not installed (a developer machine without it): the PostgreSQL tests are
#   skipped, nothing else changes.

longtail_postgres_fail() {
  echo "ci: ERROR: PostgreSQL is installed but $1" >&2
  echo "ci: (the PostgreSQL tests must run where PostgreSQL is installed; fix the server," >&2
  echo "ci:  or point LONGTAIL_TEST_POSTGRES_URL at one that works)" >&2
  exit 1
}

longtail_start_postgres() {
  if [ -n "${LONGTAIL_TEST_POSTGRES_URL:-}" ]; then
    echo "ci: the PostgreSQL tests use LONGTAIL_TEST_POSTGRES_URL"
    return 0
  fi
  if ! command -v pg_ctlcluster >/dev/null 2>&1 \
    && ! compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null; then
    echo "ci: PostgreSQL is not installed here: the PostgreSQL tests will be skipped" >&2
    return 0
  fi
  [ "$(id -u)" = 0 ] \
    || longtail_postgres_fail "this is not root, so it cannot be started from here"
  command -v pg_lsclusters >/dev/null 2>&1 || longtail_postgres_fail "pg_lsclusters is missing"
  local cluster
  cluster=$(pg_lsclusters -h 2>/dev/null | awk 'NR == 1 {print $1 " " $2}')
  [ -n "$cluster" ] || longtail_postgres_fail "has no cluster (pg_lsclusters lists none)"
  # shellcheck disable=SC2086  # "$cluster" is "VERSION NAME", two arguments
  service postgresql start >/dev/null 2>&1 || pg_ctlcluster $cluster start \
    || longtail_postgres_fail "cluster $cluster did not start (see /var/log/postgresql/)"
  local ready=""
  for _ in $(seq 30); do
    if su postgres -c "psql -tAc 'select 1'" >/dev/null 2>&1; then ready=1; break; fi
    sleep 1
  done
  [ -n "$ready" ] || longtail_postgres_fail "cluster $cluster accepts no connection after 30 s"
  # CREATEROLE: the credential tests make a throwaway role with a password of their own.
  local known
  known=$(su postgres -c "psql -tAc \"select 1 from pg_roles where rolname = 'longtail'\"") \
    || longtail_postgres_fail "cluster $cluster cannot be queried as postgres"
  if [ "$known" = 1 ]; then
    su postgres -c "psql -qc 'alter role longtail login createdb createrole'" >/dev/null \
      || longtail_postgres_fail "the test role longtail cannot be given createdb createrole"
  else
    su postgres -c "psql -qc \"create role longtail login password 'longtail' createdb createrole\"" \
      >/dev/null || longtail_postgres_fail "the test role longtail cannot be created"
  fi
  # pg_signal_backend: a test database is dropped WITH (FORCE), which ends the sessions
  # that the test's own throwaway logins (team members) may still hold on it.
  su postgres -c "psql -qc 'grant pg_signal_backend to longtail'" >/dev/null \
    || longtail_postgres_fail "the test role longtail cannot be granted pg_signal_backend"
  PGPASSWORD=longtail psql -h localhost -U longtail -d postgres -tAc 'select 1' >/dev/null \
    || longtail_postgres_fail "refuses longtail/longtail over TCP on localhost (pg_hba.conf?)"
  export LONGTAIL_TEST_POSTGRES_URL="postgresql://longtail:longtail@localhost/postgres"
  echo "ci: the PostgreSQL tests run on cluster $cluster"
}

longtail_start_postgres
