#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the test suite, from the distribution's packages:
#   eval "$(tools/pg_cluster.sh start)"   # prints: export RELIEF_TEST_PG=postgresql://...; PG_CLUSTER_DIR=...
#   tools/pg_cluster.sh stop DIR
# initdb and pg_ctl run as a non-root user (the packages' postgres user when run as root), with the data
# in a new temporary folder, listening on 127.0.0.1 and a Unix socket in that folder only. Tuned for a
# test run, not for keeping data: fsync off. RELIEF_PG_SETTINGS adds (or overrides) server settings:
# "-c fsync=on -c shared_buffers=2GB" (benchmarks/province.py starts its server so).
set -euo pipefail
BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$BIN" ] || { echo "no PostgreSQL server package (apt-get install postgresql)" >&2; exit 1; }
as_owner() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
case "${1:-}" in
start)
    DIR=$(mktemp -d /tmp/relief-pg.XXXXXX)
    [ "$(id -u)" = 0 ] && chown postgres "$DIR"
    PORT=${RELIEF_TEST_PG_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
    as_owner "$BIN/initdb" -D "$DIR/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$DIR/initdb.log" 2>&1 \
        || { cat "$DIR/initdb.log" >&2; exit 1; }
    # Password logins for the roles relief admin creates; the administrator itself logs in by trust.
    cat > "$DIR/data/pg_hba.conf" <<HBA
local all postgres trust
host all postgres 127.0.0.1/32 trust
local all all scram-sha-256
host all all 127.0.0.1/32 scram-sha-256
HBA
    as_owner "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -o \
        "-k $DIR -c listen_addresses=127.0.0.1 -p $PORT -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 ${RELIEF_PG_SETTINGS:-}" \
        start >/dev/null
    echo "export RELIEF_TEST_PG=postgresql://postgres@127.0.0.1:$PORT/postgres PG_CLUSTER_DIR=$DIR"
    ;;
stop)
    DIR=${2:?folder}
    as_owner "$BIN/pg_ctl" -D "$DIR/data" -m immediate stop >/dev/null || true
    rm -rf "$DIR"
    ;;
*)
    echo "usage: $0 start | stop DIR" >&2; exit 2 ;;
esac
