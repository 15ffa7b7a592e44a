#!/usr/bin/env bash
# Issue 23's sweeps, in the order of the claims they decide (experiments/fashion_mnist/rules.yaml,
# written before them): Table 1 with both linear protocols, Table 3, claim 3 at τ = 0.996, the
# tangential rows and Theorem 5.1, Figure 5a, the 100-epoch runs. About 150 runs at the demo's
# scale on the one-node SLURM of experiments/slurm, two at a time, at nice 19 (the cluster runs a
# job at its sbatch's nice value, PropagatePrioProcess=1): the machine stays usable beside them.
# Rerunning continues: finished runs are skipped, an interrupted one resumes from its checkpoint,
# and the finished runs kept in results/ (keep.py) come back first where logs/ was lost.
#   experiments/fashion_mnist/claims.sh            (as root, for the cluster; make install first)
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-.venv/bin/python}
experiments/slurm/local_cluster.sh start
"$PY" -m experiments.fashion_mnist.keep restore
status=0
for sweep in table1 table3 claim3 tangential fig5a long; do
    # A failed run does not stop the other sweeps; the exit code says that one failed. A job at
    # nice 19 may wait long for the CPU: no SLURM time limit cuts it (a requeue would only resume).
    nice -n 19 "$PY" -m raft_lightning.train -m "experiment=claims_$sweep" launcher=slurm_local \
        hydra.launcher.timeout_min=1440 hydra.launcher.array_parallelism=2 || status=1
    "$PY" -m experiments.fashion_mnist.keep save
done
exit $status
