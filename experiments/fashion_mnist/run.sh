#!/usr/bin/env bash
# The Fashion-MNIST results, start to finish: the one-node SLURM of experiments/slurm, the Table 1
# and Table 3 sweeps and the 100-epoch BYOL-LPI run on it (two runs at once, one thread each:
# 1.27× the throughput of one run on both cores here, README "Results on Fashion-MNIST"), then
# the collect step into results/ (it publishes only finished sweeps).
# Rerunning continues: finished runs are skipped, an interrupted one resumes from its checkpoint.
#   experiments/fashion_mnist/run.sh            (as root, for the cluster; make install first)
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-.venv/bin/python}
experiments/slurm/local_cluster.sh start
status=0
for sweep in table1_fmnist table3_fmnist byol_lpi_long_fmnist; do
    # A failed run does not stop the other sweeps; the exit code says that one failed.
    "$PY" -m raft_lightning.train -m "experiment=$sweep" launcher=slurm_local || status=1
done
"$PY" -m experiments.fashion_mnist
exit $status
