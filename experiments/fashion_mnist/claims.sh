#!/usr/bin/env bash
# Issue 23's sweeps (experiment=claims_*), decided by experiments/fashion_mnist/rules.yaml, which
# was written before them: about 150 runs at the demo's scale. Two chains of sweeps run side by
# side, each run on one thread (OMP_NUM_THREADS=1: two one-thread runs on 2 cores finished 1.27×
# as many runs an hour as one two-thread run, docs/results.md) and at nice 19, so the machine
# stays usable: anything else gets the CPU first. Not on the local SLURM: a background job there
# would hold a CPU slot that the test suite's SLURM tests then wait for, whatever its nice value.
# Rerunning continues: the finished runs kept in results/ come back first where logs/ was lost
# (keep.py), finished runs are skipped, an interrupted one resumes from its checkpoint. After
# each sweep its finished runs are kept in results/fashion_mnist/claims/ (commit them).
#   experiments/fashion_mnist/claims.sh       (make install first; logs in logs/claims/chain-*.log)
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-.venv/bin/python}
export OMP_NUM_THREADS=1
mkdir -p logs/claims
"$PY" -m experiments.fashion_mnist.keep restore
chain() {  # the sweeps one after another; a failed run does not stop the others, the status says so
    local status=0
    for sweep in "$@"; do
        nice -n 19 "$PY" -m raft_lightning.train -m "experiment=claims_$sweep" || status=1
        "$PY" -m experiments.fashion_mnist.keep save "$sweep"
    done
    return $status
}
trap 'kill 0' INT TERM HUP  # stopping this script stops both chains (each run checkpoints first)
# Both chains end in the longest sweep (6 runs of 100 epochs): the one that gets there first
# starts its first run, the other skips the run whose folder is in use (each run folder's lock:
# it reads "refused" in that chain's sweep summary) and takes the next, so neither core idles.
chain table1 claim3 fig5a long >logs/claims/chain-a.log 2>&1 &
a=$!
chain table3 tangential long >logs/claims/chain-b.log 2>&1 &
b=$!
status=0
wait $a || status=1
wait $b || status=1
exit $status
