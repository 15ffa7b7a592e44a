"""Offline linear evaluation (Appendix C): ``python -m raft_lightning.linear_eval run_dir=<run dir>``.

Freezes the online encoder of the run's last checkpoint, extracts backbone features of the
training images (all of them, un-augmented) and the test images once, trains a linear classifier
on the cached features for 100 epochs with lr 5e-4 (Adam: the paper names no optimiser) and
writes the test accuracy as ``linear_acc`` into the run's summary.json. It also saves the test
projections f_θ(x) of up to ``eval.embeddings`` images to embeddings.pt for the report's figures.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import hydra
import lightning as L
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from raft_lightning.conf import SEARCH_PATH
from raft_lightning.evaluation import extract, linear_accuracy
from raft_lightning.objectives import SelfSupervised
from raft_lightning.results import CONFIG_FILE, SUMMARY_FILE, read_summary, write_json

log = logging.getLogger(__name__)
EMBEDDINGS_FILE = "embeddings.pt"


def evaluate(
    model: SelfSupervised, datamodule: L.LightningDataModule, eval_cfg: DictConfig, seed: int = 0
) -> tuple[float, dict[str, torch.Tensor]]:
    """Linear accuracy of the frozen online backbone, and the test embeddings for the figures."""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model.to(device)
    train_features, train_labels = extract(model.online.backbone, datamodule.plain_train_dataloader(), device)
    test_features, test_projections, test_labels = extract(model.online, datamodule.plain_val_dataloader(), device)
    accuracy = linear_accuracy(  # on the CPU: the features are small, the classifier tiny
        train_features,
        train_labels,
        test_features,
        test_labels,
        num_classes=datamodule.num_classes,
        epochs=eval_cfg.epochs,
        lr=eval_cfg.lr,
        batch_size=eval_cfg.batch_size,
        seed=seed,
        standardize=eval_cfg.get("standardize", True),
    )
    keep = slice(0, eval_cfg.embeddings)
    return accuracy, {"projections": test_projections[keep], "labels": test_labels[keep]}


def load_run(run_dir: Path) -> tuple[DictConfig, SelfSupervised, L.LightningDataModule]:
    """The run's resolved config, its objective with the last checkpoint's weights, its data."""
    from raft_lightning.train import build_objective  # train imports this module

    cfg_path, summary = run_dir / CONFIG_FILE, read_summary(run_dir)
    if not cfg_path.is_file() or summary is None:
        raise FileNotFoundError(f"{run_dir} is not a run directory: it needs {CONFIG_FILE} and {SUMMARY_FILE}")
    if not summary.get("checkpoint"):
        raise FileNotFoundError(f"{run_dir} has no checkpoint (status {summary.get('status')!r}): nothing to evaluate")
    cfg = OmegaConf.load(cfg_path)
    L.seed_everything(cfg.seed, verbose=False)
    model = build_objective(cfg)
    state = torch.load(run_dir / summary["checkpoint"], map_location="cpu", weights_only=False)["state_dict"]
    model.load_state_dict(state)
    datamodule = instantiate(cfg.data)
    datamodule.setup("fit")
    return cfg, model, datamodule


def save_results(run_dir: Path, accuracy: float, embeddings: dict[str, torch.Tensor]) -> dict[str, Any]:
    torch.save(embeddings, run_dir / EMBEDDINGS_FILE)
    summary = read_summary(run_dir)
    summary["linear_acc"] = accuracy
    write_json(run_dir / SUMMARY_FILE, summary)
    return summary


def evaluate_run(run_dir: str | Path, eval_cfg: DictConfig) -> dict[str, Any]:
    run_dir = Path(run_dir)
    cfg, model, datamodule = load_run(run_dir)
    accuracy, embeddings = evaluate(model, datamodule, eval_cfg, seed=cfg.seed)
    log.info("linear_acc %.4f written to %s", accuracy, run_dir / SUMMARY_FILE)
    return save_results(run_dir, accuracy, embeddings)


@hydra.main(version_base="1.3", config_path=SEARCH_PATH, config_name="linear_eval")
def main(cfg: DictConfig) -> None:
    summary = evaluate_run(cfg.run_dir, cfg.eval)
    print(f"{cfg.run_dir}: linear_acc = {summary['linear_acc']:.4f}")


if __name__ == "__main__":
    main()
