"""Offline linear evaluation (Appendix C): ``raft-linear-eval run_dir=<run dir>``
(or ``python -m raft_lightning.linear_eval``).

Freezes the online encoder of the run's last checkpoint, extracts backbone features of the
training images (all of them, un-augmented) and the test images once, trains a linear classifier
on the cached features for 100 epochs with lr 5e-4 (Adam: the paper names no optimiser) and
records the test accuracy as ``linear_acc`` in the run's summary.json. It also saves the test
projections f_θ(x) of up to ``eval.embeddings`` images to embeddings.pt for the report's figures.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

from raft_lightning.conf import SEARCH_PATH
from raft_lightning.evaluation.linear import evaluate
from raft_lightning.files import SUMMARY_FILE
from raft_lightning.run.build import load_run
from raft_lightning.run.record import RunRecord
from raft_lightning.run.resolvers import register_resolvers

log = logging.getLogger(__name__)


def evaluate_run(run_dir: str | Path, eval_cfg: DictConfig) -> dict[str, Any]:
    run_dir = Path(run_dir)
    cfg, model, datamodule = load_run(run_dir)
    accuracy, embeddings = evaluate(model, datamodule, eval_cfg, seed=cfg.seed)
    record = RunRecord.load(run_dir)
    record.save_linear_evaluation(run_dir, accuracy, embeddings)
    log.info("linear_acc %.4f written to %s", accuracy, run_dir / SUMMARY_FILE)
    return record.as_dict()


@hydra.main(version_base="1.3", config_path=SEARCH_PATH, config_name="linear_eval")
def hydra_main(cfg: DictConfig) -> None:
    summary = evaluate_run(cfg.run_dir, cfg.eval)
    print(f"{cfg.run_dir}: linear_acc = {summary['linear_acc']:.4f}")


def main() -> None:
    """``raft-linear-eval``: Hydra's command line over conf/linear_eval.yaml."""
    register_resolvers()
    hydra_main()


if __name__ == "__main__":
    main()
