#!/bin/sh
# examples/ipc/task_master_worker.sh — runs task_master and task_worker together.
#
#   sh task_master_worker.sh TASK_MASTER TASK_WORKER [--smoke]
#
# The meson test "task_master_worker" (suite examples). The master serves on
# a free port (--port 0) and, once its tasks are queued, writes the port into
# a FIFO, whose read below is what the worker waits for; then the worker
# connects over 127.0.0.1 with the authkey, and the master checks the results.
# Both exit non-zero if anything is wrong; so does this script.
set -eu
master=$1
worker=$2
smoke=${3:-}

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkfifo "$dir/port"

"$master" $smoke --port 0 --authkey abc --port-file "$dir/port" &
master_pid=$!
# Blocks until the master has written (EOF, hence failure, if it dies first).
if ! read -r port < "$dir/port"; then
    wait "$master_pid" || true
    echo "task_master_worker.sh: task_master did not report its port" >&2
    exit 1
fi
status=0
"$worker" $smoke --port "$port" --authkey abc || status=$?
wait "$master_pid" || status=$?
exit "$status"
