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
import sys
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

from raft_lightning.conf import SEARCH_PATH
from raft_lightning.evaluation.linear import evaluate
from raft_lightning.files import CONFIG_FILE, SUMMARY_FILE
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
    try:
        summary = evaluate_run(cfg.run_dir, cfg.eval)
    except FileNotFoundError as e:  # no checkpoint to evaluate
        print(f"raft-linear-eval: run_dir={cfg.run_dir}: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    print(f"{cfg.run_dir}: linear_acc = {summary['linear_acc']:.4f}")


def run_dir_error(argv: list[str]) -> str | None:
    """One line for a missing or wrong ``run_dir``, checked before Hydra starts (it would print a
    long traceback for the first, and create the folder for the second)."""
    if any(a.startswith(("-h", "--help", "--hydra-help", "--cfg", "--info", "--shell-completion")) for a in argv):
        return None
    given = [a.split("=", 1)[1] for a in argv if a.startswith("run_dir=")]
    if not given:
        return "run_dir: missing; give a run's folder: raft-linear-eval run_dir=<folder with summary.json>"
    folder = Path(given[-1])
    if not (folder / CONFIG_FILE).is_file() or not (folder / SUMMARY_FILE).is_file():
        return f"run_dir={given[-1]}: not a run folder (it needs {CONFIG_FILE} and {SUMMARY_FILE})"
    return None


def main() -> None:
    """``raft-linear-eval``: Hydra's command line over conf/linear_eval.yaml."""
    error = run_dir_error(sys.argv[1:])
    if error:
        print(f"raft-linear-eval: {error}", file=sys.stderr)
        raise SystemExit(2)
    register_resolvers()
    hydra_main()


if __name__ == "__main__":
    main()
