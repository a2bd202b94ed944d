#!/usr/bin/env bash
# The streaming replica: on first start, clone the primary with pg_basebackup -R (which
# writes standby.signal and primary_conninfo), keeping WAL for it in a replication slot;
# then run as a hot standby. Runs as the postgres user (compose sets `user: postgres`).
set -euo pipefail

primary_host="${PRIMARY_HOST:-db-primary}"
slot="${REPLICATION_SLOT:-replica_1}"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    until pg_isready --host "$primary_host" --port 5432 --quiet; do sleep 1; done
    export PGPASSWORD="$REPLICATION_PASSWORD"
    pg_basebackup --host "$primary_host" --port 5432 --username replicator \
        --pgdata "$PGDATA" --write-recovery-conf --wal-method stream \
        --checkpoint fast --create-slot --slot "$slot" --progress
    unset PGPASSWORD
    chmod 0700 "$PGDATA"
fi

exec postgres -c hot_standby=on -c hot_standby_feedback=on \
    -c max_standby_streaming_delay=30s -c "primary_slot_name=$slot"
