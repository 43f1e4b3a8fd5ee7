# Sourced by start.sh and stop.sh (needs $PIDS, the folder of <daemon>.pid files).
# recorded_pid NAME: prints the PID recorded for daemon NAME if that PID still runs that program.
recorded_pid() {
    local f="$PIDS/$1.pid" pid
    [[ -s "$f" ]] || return 1
    pid="$(cat "$f")"
    [[ -r "/proc/$pid/comm" && "$(cat "/proc/$pid/comm")" == "$1" ]] || return 1
    echo "$pid"
}
