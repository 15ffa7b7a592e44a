#!/usr/bin/env bash
# A real one-node SLURM on this machine, for the tests and for trying `launcher=slurm` locally.
#
#   experiments/slurm/local_cluster.sh start    # install slurm-wlm + munge if missing, configure, start
#   experiments/slurm/local_cluster.sh status   # exit 0 if the controller answers and the node is idle/up
#   experiments/slurm/local_cluster.sh stop     # stop the daemons this script started
#
# Needs root (apt-get, daemons). Everything it owns lives in $RAFT_SLURM_DIR (default
# /var/lib/raft-slurm): pid files, logs, spool, state. It writes /etc/slurm/slurm.conf (where
# sbatch, squeue and scontrol look) only if that file is absent or was written by this script,
# so it never clobbers the configuration of a real cluster. Accounting is off (no slurmdbd):
# `sacct` warns, which submitit tolerates.
set -euo pipefail

STATE=${RAFT_SLURM_DIR:-/var/lib/raft-slurm}
CONF=/etc/slurm/slurm.conf
MARK="# written by raft-lightning experiments/slurm/local_cluster.sh"
PARTITION=${RAFT_SLURM_PARTITION:-debug}

log() { echo "local_cluster: $*" >&2; }

install_packages() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null \
        && command -v munged >/dev/null; then
        return
    fi
    [ "$(id -u)" = 0 ] || { log "slurm-wlm and munge are missing; run as root to install them"; exit 1; }
    log "installing slurm-wlm and munge (apt-get)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
}

write_config() {
    if [ -f "$CONF" ] && ! grep -qF "$MARK" "$CONF"; then
        log "$CONF exists and was not written by this script: not touching it"
        exit 1
    fi
    mkdir -p /etc/slurm "$STATE"/{log,spool/ctld,spool/d,run}
    local host node
    host=$(hostname -s)
    # `slurmd -C` prints this machine's NodeName line (CPUs, sockets, cores, threads, RealMemory).
    node=$(slurmd -C | head -n 1 | sed -e "s/^NodeName=[^ ]*/NodeName=$host NodeAddr=127.0.0.1/")
    cat >"$CONF" <<CONF
$MARK
ClusterName=raftlocal
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
# A requeued job waits cred_expire seconds before it may start again (default 120 s): short, for tests.
AuthInfo=cred_expire=5
SchedulerParameters=sched_interval=2,bf_interval=2
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
JobRequeue=1
# A job runs at the nice value of the sbatch that submitted it: `nice -n 19 raft-train -m ...
# launcher=slurm_local` gives a background sweep's runs the CPU only when nothing else wants it.
PropagatePrioProcess=1
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
SlurmctldPidFile=$STATE/run/slurmctld.pid
SlurmdPidFile=$STATE/run/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
StateSaveLocation=$STATE/spool/ctld
SlurmdSpoolDir=$STATE/spool/d
SlurmctldPort=6817
SlurmdPort=6818
InactiveLimit=0
KillWait=10
MinJobAge=60
Waittime=0
$node State=UNKNOWN
PartitionName=$PARTITION Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
}

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

start_munge() {
    if [ -S /run/munge/munge.socket.2 ] && munge -n </dev/null | unmunge >/dev/null 2>&1; then
        return  # a munged is already answering (ours or the system's)
    fi
    mkdir -p /run/munge /var/log/munge /var/lib/munge /etc/munge
    [ -f /etc/munge/munge.key ] || { dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null; }
    chown -R munge:munge /run/munge /var/log/munge /var/lib/munge /etc/munge 2>/dev/null || true
    chmod 0700 /etc/munge && chmod 0400 /etc/munge/munge.key
    runuser -u munge -- munged --pid-file=/run/munge/munged.pid
    cp /run/munge/munged.pid "$STATE/run/munged.pid"  # ours: stop removes it
}

status() {
    scontrol ping 2>/dev/null | grep -q "is UP" || return 1
    sinfo -h -p "$PARTITION" -o %t 2>/dev/null | grep -qE "idle|mix|alloc"
}

dump_logs() {
    for f in "$STATE"/log/*.log /var/log/munge/munged.log; do
        [ -f "$f" ] && { echo "----- $f (last 40 lines)"; tail -n 40 "$f"; }
    done >&2
}

start() {
    if status; then log "already running"; return; fi
    install_packages
    write_config
    start_munge
    alive "$STATE/run/slurmctld.pid" || slurmctld -f "$CONF"
    alive "$STATE/run/slurmd.pid" || slurmd -f "$CONF"
    for _ in $(seq 60); do
        if status; then log "up: partition $PARTITION, $(sinfo -h -o '%c CPUs, %m MB' -p "$PARTITION")"; return; fi
        # a node left DOWN by an earlier, unclean stop comes back on its own (ReturnToService=2); nudge it
        scontrol update nodename="$(hostname -s)" state=resume >/dev/null 2>&1 || true
        sleep 1
    done
    log "SLURM did not come up within 60 s"
    dump_logs
    exit 1
}

stop() {
    for name in slurmd slurmctld munged; do
        pidfile="$STATE/run/$name.pid"
        if alive "$pidfile"; then
            pid=$(cat "$pidfile")
            kill "$pid"
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        fi
        rm -f "$pidfile"
    done
    log "stopped"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) if status; then log "up"; else log "down"; exit 1; fi ;;
    logs) dump_logs ;;
    *) echo "usage: $0 start|stop|status|logs" >&2; exit 2 ;;
esac
