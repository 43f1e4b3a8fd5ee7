#!/usr/bin/env bash
# Start a real single-node SLURM on this machine for the tests (see README.md beside this file).
#
#   bash tests/slurm/start.sh [STATE_DIR]      STATE_DIR defaults to $SLURM_STATE_DIR, then /tmp/pinclass-slurm
#
# Installs the Debian packages when missing, writes slurm.conf/gres.conf and a munge key into
# STATE_DIR, starts munged, slurmctld and slurmd (PIDs in STATE_DIR/pids/) and waits until the
# node is idle. Clients find the cluster through SLURM_CONF=STATE_DIR/etc/slurm.conf (printed
# last) and through /etc/slurm/slurm.conf, which becomes a symlink to it (see below why). If the daemons of STATE_DIR already run and the node answers, it says
# "already running" and exits 0. Stop with tests/slurm/stop.sh STATE_DIR.
#
# Knobs (environment): SLURM_START_TIMEOUT (s, default 60), SLURM_PARTITION (default "ci"),
# SLURM_GPU_PARTITION (default "<partition>-gpu"; a second partition on the same node, so tests
# can see which partition each rule's jobs land on), SLURM_GPU_MAX_TIME (the GPU partition's time
# limit, default 6:00:00: like a real GPU partition's, shorter than a doubled extraction job's ask),
# SLURMCTLD_PORT (6817), SLURMD_PORT (6818), SLURM_FAKE_GPUS (2).
set -euo pipefail

STATE_DIR="${1:-${SLURM_STATE_DIR:-/tmp/pinclass-slurm}}"
START_TIMEOUT="${SLURM_START_TIMEOUT:-60}"
PARTITION="${SLURM_PARTITION:-ci}"
GPU_PARTITION="${SLURM_GPU_PARTITION:-$PARTITION-gpu}"
GPU_MAX_TIME="${SLURM_GPU_MAX_TIME:-6:00:00}"
CTLD_PORT="${SLURMCTLD_PORT:-6817}"
SLURMD_PORT="${SLURMD_PORT:-6818}"
FAKE_GPUS="${SLURM_FAKE_GPUS:-2}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

log() { echo "slurm-start: $*"; }
die() {
    echo "slurm-start: ERROR: $*" >&2
    exit 1
}

[[ "$(id -u)" == 0 ]] || die "must run as root (installs packages, runs slurmd as root)"
mkdir -p "$STATE_DIR"
STATE_DIR="$(cd "$STATE_DIR" && pwd)"
ETC="$STATE_DIR/etc"
PIDS="$STATE_DIR/pids"
LOGS="$STATE_DIR/log"
MUNGE_DIR="$STATE_DIR/munge"
export SLURM_CONF="$ETC/slurm.conf"

# ---------------------------------------------------------------- helpers
# shellcheck source=pids.sh
source "$(dirname "${BASH_SOURCE[0]}")/pids.sh"
pid_alive() { recorded_pid "$1" >/dev/null; }

# started NAME: record $! as NAME's PID once setsid/setpriv have exec'd into NAME (a check right
# after `&` could still see "setsid").
started() {
    local pid="$!" i
    echo "$pid" >"$PIDS/$1.pid"
    for ((i = 0; i < 100; i++)); do
        [[ -r "/proc/$pid/comm" ]] || return 0 # exited; the caller's checks report it
        [[ "$(cat "/proc/$pid/comm")" == "$1" ]] && return 0
        sleep 0.05
    done
}

node_state() {
    timeout 10 sinfo -h -N -n localhost -o '%t' 2>/dev/null | head -n1 | tr -d '*~#!%$@^-' || true
}

diagnose() {
    echo "---- sinfo -R / scontrol show node ----" >&2
    timeout 5 sinfo -R 2>&1 | tail -n 5 >&2 || true
    timeout 5 scontrol show node localhost 2>&1 | grep -Ei 'state|reason|gres|cfgtres' >&2 || true
    for f in munged.log munged.out slurmctld.log slurmctld.out slurmd.log slurmd.out; do
        if [[ -s "$LOGS/$f" ]]; then
            echo "---- tail $LOGS/$f ----" >&2
            tail -n 25 "$LOGS/$f" >&2
        fi
    done
}

# ---------------------------------------------------------------- already running?
if pid_alive munged && pid_alive slurmctld && pid_alive slurmd &&
    [[ "$(readlink /etc/slurm/slurm.conf 2>/dev/null)" == "$SLURM_CONF" ]] &&
    [[ "$(node_state)" =~ ^(idle|mix|alloc)$ ]]; then
    log "already running from $STATE_DIR (node $(node_state))"
    echo "SLURM_CONF=$SLURM_CONF"
    exit 0
fi
if [[ -d "$PIDS" ]] && ls "$PIDS"/*.pid >/dev/null 2>&1; then
    log "found a partly running or stale cluster in $STATE_DIR; stopping it first"
    bash "$HERE/stop.sh" "$STATE_DIR"
fi

# ---------------------------------------------------------------- packages
need_install=0
for bin in slurmctld slurmd sinfo sbatch squeue munged; do
    command -v "$bin" >/dev/null 2>&1 || need_install=1
done
if [[ "$need_install" == 1 ]]; then
    command -v apt-get >/dev/null || die "SLURM binaries missing and no apt-get to install them"
    log "installing slurmctld slurmd slurm-client munge (apt-get, --no-install-recommends)"
    # Without systemd, apt would try to start the packaged init scripts (with no slurm.conf yet);
    # a policy-rc.d that answers 101 forbids that. Docker-style images already have one.
    made_policy=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        made_policy=1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt_log="$STATE_DIR/apt.log"
    if ! { apt-get -o DPkg::Lock::Timeout=300 update -q &&
        apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends \
            slurmctld slurmd slurm-client munge; } >"$apt_log" 2>&1; then
        [[ "$made_policy" == 1 ]] && rm -f /usr/sbin/policy-rc.d
        tail -n 30 "$apt_log" >&2
        die "apt-get failed (full log: $apt_log)"
    fi
    [[ "$made_policy" == 1 ]] && rm -f /usr/sbin/policy-rc.d
    for bin in slurmctld slurmd sinfo sbatch squeue munged; do
        command -v "$bin" >/dev/null 2>&1 || die "$bin still missing after apt-get install"
    done
fi
id munge >/dev/null 2>&1 || die "user 'munge' missing (the munge package creates it)"

# ---------------------------------------------------------------- fresh state
rm -rf "$ETC" "$PIDS" "$MUNGE_DIR" "$STATE_DIR/ctld" "$STATE_DIR/spool" "$STATE_DIR/dev" "$LOGS"
mkdir -p "$ETC" "$PIDS" "$LOGS" "$STATE_DIR/ctld" "$STATE_DIR/spool" "$STATE_DIR/dev"
chmod 755 "$STATE_DIR"

ncpus="$(nproc)"
mem_total_kb="$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)"
real_mem_mb=$((mem_total_kb * 85 / 100 / 1024))
# Jobs that ask no memory would otherwise get the whole node and run one at a time.
def_mem_per_cpu=$((real_mem_mb / ncpus / 2))
((def_mem_per_cpu > 1000)) && def_mem_per_cpu=1000

# Fake GPUs: character devices (gres.conf refuses regular files), like /dev/null (1,3).
gres_node=""
if ((FAKE_GPUS > 0)); then
    for ((i = 0; i < FAKE_GPUS; i++)); do
        mknod "$STATE_DIR/dev/testgpu$i" c 1 3 || die "mknod failed: fake GPU devices need CAP_MKNOD"
    done
    gres_node="Gres=gpu:testgpu:$FAKE_GPUS"
    cat >"$ETC/gres.conf" <<EOF
AutoDetect=off
NodeName=localhost Name=gpu Type=testgpu File=$STATE_DIR/dev/testgpu[0-$((FAKE_GPUS - 1))]
EOF
else
    : >"$ETC/gres.conf"
fi

cat >"$SLURM_CONF" <<EOF
# Written by tests/slurm/start.sh; regenerated on every start.
ClusterName=pinclass
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_DIR/munge.socket
StateSaveLocation=$STATE_DIR/ctld
SlurmdSpoolDir=$STATE_DIR/spool
SlurmctldPidFile=$STATE_DIR/ctld/slurmctld.pid
SlurmdPidFile=$STATE_DIR/spool/slurmd.pid
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# No cgroups and no systemd here.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
MailProg=/bin/true
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=$def_mem_per_cpu
ReturnToService=2
# A job asking for more than its partition's limits is refused at submission (as on many clusters),
# not left pending for ever.
EnforcePartLimits=ALL
# Finished jobs stay visible to squeue this long; Snakemake's slurm plugin uses squeue for
# status only if MinJobAge >= 3 x slurm-init-seconds-before-status-checks.
MinJobAge=3600
KillWait=5
InactiveLimit=0
GresTypes=gpu
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$ncpus RealMemory=$real_mem_mb $gres_node State=UNKNOWN
PartitionName=$PARTITION Nodes=localhost Default=YES MaxTime=INFINITE State=UP
PartitionName=$GPU_PARTITION Nodes=localhost Default=NO MaxTime=$GPU_MAX_TIME State=UP
EOF

# Inside a job, snakemake-executor-plugin-slurm-jobstep runs `srun` with every SLURM_* variable
# removed, SLURM_CONF included: srun then reads the default /etc/slurm/slurm.conf. So that path must
# lead to this config. A symlink is made (and removed by stop.sh); a real file there is left alone
# and stops the start, since jobs would talk to another cluster.
DEFAULT_CONF=/etc/slurm/slurm.conf
if [[ -e "$DEFAULT_CONF" && ! -L "$DEFAULT_CONF" ]]; then
    die "$DEFAULT_CONF exists and is not our symlink; move it away (jobs' srun would read it)"
fi
mkdir -p /etc/slurm
ln -sfn "$SLURM_CONF" "$DEFAULT_CONF"

# ---------------------------------------------------------------- munged (as user munge, own key and socket)
# The socket folder must be searchable by all (clients connect), writable only by munge.
install -d -o munge -g munge -m 711 "$MUNGE_DIR"
dd if=/dev/urandom of="$MUNGE_DIR/munge.key" bs=1024 count=1 status=none
chown munge:munge "$MUNGE_DIR/munge.key"
chmod 400 "$MUNGE_DIR/munge.key"
install -o munge -g munge -m 600 /dev/null "$LOGS/munged.log"

# Daemons run in the foreground of their own session, so $! is the daemon's PID; their output
# goes to files, so that a caller reading our stdout through a pipe gets EOF.
setsid setpriv --reuid=munge --regid=munge --init-groups \
    munged --foreground --key-file="$MUNGE_DIR/munge.key" --socket="$MUNGE_DIR/munge.socket" \
    --pid-file="$MUNGE_DIR/munged.pid" --seed-file="$MUNGE_DIR/munge.seed" \
    --log-file="$LOGS/munged.log" </dev/null >>"$LOGS/munged.out" 2>&1 &
started munged

for ((i = 0; i < 50; i++)); do
    [[ -S "$MUNGE_DIR/munge.socket" ]] && break
    pid_alive munged || {
        diagnose
        die "munged exited (see $LOGS/munged.log, $LOGS/munged.out)"
    }
    sleep 0.2
done
[[ -S "$MUNGE_DIR/munge.socket" ]] || {
    diagnose
    die "munged did not create its socket in 10 s"
}

# ---------------------------------------------------------------- slurmctld, slurmd
setsid slurmctld -D -i -f "$SLURM_CONF" </dev/null >>"$LOGS/slurmctld.out" 2>&1 &
started slurmctld
for ((i = 0; i < 50; i++)); do
    timeout 5 scontrol ping 2>/dev/null | grep -q 'UP' && break
    pid_alive slurmctld || {
        diagnose
        die "slurmctld exited (see $LOGS/slurmctld.log)"
    }
    sleep 0.2
done

setsid slurmd -D -N localhost -f "$SLURM_CONF" </dev/null >>"$LOGS/slurmd.out" 2>&1 &
started slurmd

# ---------------------------------------------------------------- wait for the node
deadline=$((SECONDS + START_TIMEOUT))
state=""
while ((SECONDS < deadline)); do
    for d in munged slurmctld slurmd; do
        pid_alive "$d" || {
            diagnose
            die "$d exited during start-up (logs in $LOGS)"
        }
    done
    state="$(node_state)"
    case "$state" in
    idle | mix | alloc) break ;;
    drain | drng | inval | fail)
        diagnose
        die "node localhost is '$state' (see the reason above)"
        ;;
    esac
    sleep 0.5
done
if [[ ! "$state" =~ ^(idle|mix|alloc)$ ]]; then
    diagnose
    die "node localhost not idle after ${START_TIMEOUT}s (state: '${state:-no answer}')"
fi

log "SLURM up in $STATE_DIR: node localhost $state, partition $PARTITION, CPUs=$ncpus," \
    "RealMemory=${real_mem_mb}M, gpu:testgpu:$FAKE_GPUS, GPU partition $GPU_PARTITION (MaxTime $GPU_MAX_TIME); PIDs munged=$(cat "$PIDS/munged.pid")" \
    "slurmctld=$(cat "$PIDS/slurmctld.pid") slurmd=$(cat "$PIDS/slurmd.pid")"
echo "SLURM_CONF=$SLURM_CONF"
