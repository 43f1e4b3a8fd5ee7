#!/usr/bin/env bash
# Stop the SLURM that tests/slurm/start.sh started from STATE_DIR (same default), by recorded PIDs.
#
#   bash tests/slurm/stop.sh [STATE_DIR]
#
# Cancels the cluster's jobs, sends TERM to slurmd, slurmctld and munged (only to the PIDs in
# STATE_DIR/pids/ and only if that PID still runs that program: nothing is killed by name), waits
# for each to exit (KILL after 20 s) and removes the state except log/. Exits 0 when nothing runs.
set -uo pipefail

STATE_DIR="${1:-${SLURM_STATE_DIR:-/tmp/pinclass-slurm}}"
log() { echo "slurm-stop: $*"; }

if [[ ! -d "$STATE_DIR" ]]; then
    log "no state folder $STATE_DIR; nothing to stop"
    exit 0
fi
STATE_DIR="$(cd "$STATE_DIR" && pwd)"
PIDS="$STATE_DIR/pids"
export SLURM_CONF="$STATE_DIR/etc/slurm.conf"

# shellcheck source=pids.sh
source "$(dirname "${BASH_SOURCE[0]}")/pids.sh"

# Jobs first, while slurmctld and slurmd still run, so no job step outlives the cluster.
if recorded_pid slurmctld >/dev/null && [[ -f "$SLURM_CONF" ]]; then
    jobs="$(timeout 10 squeue -h -t PENDING,RUNNING,CONFIGURING,COMPLETING,SUSPENDED -o '%i' 2>/dev/null | tr '\n' ' ')"
    if [[ -n "${jobs// /}" ]]; then
        log "cancelling jobs: $jobs"
        # shellcheck disable=SC2086
        timeout 10 scancel $jobs 2>/dev/null || true
        for ((i = 0; i < 40; i++)); do
            left="$(timeout 10 squeue -h -t PENDING,RUNNING,CONFIGURING,COMPLETING,SUSPENDED -o '%i' 2>/dev/null)"
            [[ -z "$left" ]] && break
            sleep 0.5
        done
    fi
fi

status=0
for name in slurmd slurmctld munged; do
    pid="$(recorded_pid "$name")" || continue
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 40; i++)); do
        [[ -e "/proc/$pid" ]] || break
        sleep 0.5
    done
    if [[ -e "/proc/$pid" ]]; then
        log "$name ($pid) ignored TERM for 20 s; sending KILL"
        kill -KILL "$pid" 2>/dev/null || true
        sleep 0.5
    fi
    if [[ -e "/proc/$pid" ]]; then
        log "ERROR: $name ($pid) still runs"
        status=1
    else
        log "stopped $name ($pid)"
    fi
done

# start.sh points /etc/slurm/slurm.conf at this state folder; remove that link only if it still does.
if [[ -L /etc/slurm/slurm.conf && "$(readlink /etc/slurm/slurm.conf)" == "$SLURM_CONF" ]]; then
    rm -f /etc/slurm/slurm.conf
fi

if [[ "$status" == 0 ]]; then
    rm -rf "$PIDS" "$STATE_DIR/etc" "$STATE_DIR/munge" "$STATE_DIR/ctld" "$STATE_DIR/spool" "$STATE_DIR/dev"
fi
exit "$status"
