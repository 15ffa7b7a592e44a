"""The random encoder's held-out L_uniform(z) two ways: a measurement beside claim 1, not one of
its pre-registered rules (rules.yaml's ``not collapsed(random)`` reads the first way only).

1. As the collapse monitors measure it (``callbacks.CollapseMonitors``): eval mode, so every
   BatchNorm normalises with its running statistics, which an untrained network keeps at their
   initial values (mean 0, variance 1).
2. The same network, the same held-out images, each BatchNorm normalising by the batch's own
   statistics (train mode on a copy, the whole batch at once), as every training step does.

Where the first reads near 0 (collapsed by the report's rule) and the second far below, the
"collapse" is the running statistics', not the encoder's: what claims.json says of the random row.

    python -m experiments.fashion_mnist.batchnorm [--seeds 0 1 2] [--out FILE]

The network and the images are the claims runs' own (``experiment=claims_fmnist variant=random``,
each seed built as ``raft_lightning.run.train`` builds it), so the first number equals the kept
random runs' ``uniform_projector`` (tests/test_results.py checks it where they are kept).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import lightning as L
import torch
from omegaconf import OmegaConf

from experiments.bench.harness import compose
from raft_lightning.callbacks.monitors import CollapseMonitors, eval_mode, forward
from raft_lightning.evaluation.spectrum import uniformity
from raft_lightning.run.build import build
from raft_lightning.run.provenance import code_version, cpu_model

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "results" / "fashion_mnist" / "claims" / "random_batchnorm.json"
BASE = ("experiment=claims_fmnist", "variant=random", "logger=none")


def measure(seed: int, overrides: tuple[str, ...] = BASE) -> dict[str, float]:
    """L_uniform(z) of seed ``seed``'s encoder (as ``overrides`` configure it, untrained) on the
    monitors' held-out batch: in eval mode (the monitors' value) and with batch statistics."""
    with tempfile.TemporaryDirectory(prefix="raft-bn-") as tmp:
        cfg = compose([*overrides, f"seed={seed}"], tmp)
        L.seed_everything(seed, workers=True)  # as run.train: the seed, then the build
        datamodule, model, _ = build(cfg)
        datamodule.setup("validate")
        settings = OmegaConf.to_container(cfg.callbacks.monitors, resolve=True)
        settings = {k: v for k, v in settings.items() if k not in ("_target_", "dir")}
        x = CollapseMonitors(dir=tmp, **settings).held_out(SimpleNamespace(datamodule=datamodule))
    eval_value, batch_value = two_ways(model, x)
    return {"seed": seed, "eval_mode": eval_value, "batch_statistics": batch_value}


@torch.no_grad()
def two_ways(model: L.LightningModule, x: torch.Tensor) -> tuple[float, float]:
    """L_uniform(z) of ``model.online`` on ``x``: eval mode, then batch statistics. The model is
    left as it was: the second runs on a copy (train mode would update its running statistics)."""
    with eval_mode(model):
        _, z_eval = forward(model.online, x, model)
    batch = copy.deepcopy(model.online).train()
    _, z_batch = forward(batch, x, model, chunk=len(x))  # one batch: its statistics are the whole batch's
    return float(uniformity(z_eval)), float(uniformity(z_batch))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments.fashion_mnist.batchnorm", description=__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    seeds = [measure(seed) for seed in args.seeds]
    commit, dirty = code_version()
    record = {
        "what": "L_uniform(z) of the untrained (random) encoder on the collapse monitors' held-out batch",
        "config": list(BASE),
        "seeds": seeds,
        "cpu": cpu_model(),
        "commit": commit,
        "dirty": dirty,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1) + "\n")
    for s in seeds:
        print(f"seed {s['seed']}: eval mode {s['eval_mode']:.4f}, batch statistics {s['batch_statistics']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
