"""Run folders as callbacks.monitors writes them (summary keys, metrics.csv's monitor/ columns,
spectra.csv, steps.csv) and embeddings.pt, with known numbers: the report's and figures' fixtures."""

from __future__ import annotations

import csv

import torch

from tests.test_report import make_run

MONITOR_KEYS = ("uniform_backbone", "uniform_projector", "rank_backbone", "rank_projector", "std_projector")
PREDICTOR_KEYS = ("predictor_identity_distance", "predictor_asymmetry", "predictor_eigen_alignment")


def monitored_run(root, name, objective="byol", predictor="linear", seed=0, epochs=4, steps=40, dim=8, **setting):
    """A finished run with every monitor file; values depend on (seed, epoch, step) only."""
    trains = objective != "random"
    summary = {k: -1.0 - 0.1 * seed if k.startswith("uniform") else 3.0 + seed for k in MONITOR_KEYS}
    summary["uniform_projector_last"] = summary["uniform_projector"]
    linear = predictor == "linear" and trains
    summary |= {k: (0.5 + 0.01 * seed if linear else None) for k in PREDICTOR_KEYS}
    summary["knn_acc"] = 0.6 + 0.01 * seed
    run = make_run(
        root, name, objective, predictor, seed=seed, epochs=epochs if trains else 0, linear=0.7 + 0.01 * seed,
        align=0.1 if trains else None, uniform=-1.0 if trains else None, **summary, **setting,
    )  # fmt: skip
    columns = ["epoch", "train/loss", "train/align", "train/uniform", "val/knn_acc", "val/probe_acc"]
    columns += [f"monitor/{k}" for k in MONITOR_KEYS]
    with open(run / "metrics.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(columns)
        for e in range(epochs if trains else 0):
            w.writerow([e, 1 - 0.1 * e, 0.1, -1 - 0.1 * e, 0.3 + 0.1 * e + 0.01 * seed, 0.2 + 0.1 * e]
                       + [-1 - 0.1 * e, -1 - 0.2 * e, 2 + e + seed, 1 + e, 0.1 + 0.01 * e])  # fmt: skip
    with open(run / "spectra.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["epoch", "network", "layer", "index", "singular_value"])
        for e in range(epochs) if trains else [0]:
            for layer in ("backbone", "projector"):
                for i in range(dim):
                    w.writerow([e, "online", layer, i, (10.0 + seed) * 0.5 ** (i * (1 + e) / 4)])
    if trains:
        with open(run / "steps.csv", "w", newline="") as f:
            w = csv.writer(f)
            header = ["step", "epoch", "loss", "align", "uniform"]  # as callbacks.CollapseMonitors writes it
            header += ["predictor_identity_distance", "predictor_asymmetry"] * linear
            w.writerow(header)
            for s in [*range(steps), *range(steps, 4 * steps, 10)]:
                values = [s, s // 10, 2 - s / steps, 0.1, -0.1 * s / steps - 0.01 * seed]
                w.writerow(values + [0.01 * s, 0.001 * s] * linear)
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(200) % 10
    centres = torch.randn(10, 16, generator=g)
    torch.save({"projections": 3 * centres[labels] + torch.randn(200, 16, generator=g), "labels": labels},
               run / "embeddings.pt")  # fmt: skip
    return run
