"""What a run measures, declared once: the series the module and callbacks log, and how each
becomes a key of summary.json (and a column of the report, and a W&B summary value).

A logged name is ``<group>/<name>``: ``train/`` epoch means of the training batches,
``train_step/`` the same values at single optimiser steps (metrics.csv holds the epochs; the
step series go to the loggers), ``val/`` evaluations on held-out images, ``monitor/`` the
collapse monitors on a fixed held-out batch.
"""

from __future__ import annotations

from dataclasses import dataclass

# Series, by the paper's names.
LOSS = "train/loss"
ALIGN = "train/align"  # L_align(q_w ∘ f_θ): the predictions of the two views (Table 1)
CROSS = "train/cross"  # the same-view cross-model term, for every objective alike
UNIFORM = "train/uniform"  # L_uniform(f_θ) of the projections within each training batch (Table 1)
TAU = "train/tau"  # the EMA rate used by the last update
PROBE_LOSS = "train/probe_loss"
PROBE_ACC = "val/probe_acc"
KNN_ACC = "val/knn_acc"
MONITOR_PREFIX = "monitor/"  # + a monitor's summary key: its per-epoch value on the fixed held-out batch
STEP_PREFIX = "train_step/"  # + the name after "train/": the same value at one optimiser step
TARGET = "target_"  # monitor/target_<key>: the same monitor of the mean teacher f_ξ

# The collapse monitors (callbacks.CollapseMonitors, formulas in evaluation.spectrum), by key:
# of the online network on a fixed held-out batch, backbone output h and projector output z.
LAYER_MONITORS = ("uniform", "rank", "std")  # per layer: <name>_backbone, <name>_projector
PREDICTOR_MONITORS = (  # of a linear predictor q_w = W only (null for other predictors)
    "predictor_identity_distance",  # ‖W − I‖_F / √d
    "predictor_asymmetry",  # ‖W − Wᵀ‖_F / ‖W‖_F
    "predictor_eigen_alignment",  # mean_j |cos(φ_j, W φ_j)| over the eigenvectors φ_j of E[f fᵀ]
)
STEP_PREDICTOR_MONITORS = PREDICTOR_MONITORS[:2]  # cheap enough for every step (no batch needed)
LAYERS = ("backbone", "projector")
MONITOR_KEYS = (*(f"{name}_{layer}" for name in LAYER_MONITORS for layer in LAYERS), *PREDICTOR_MONITORS)


def step_series(series: str) -> str:
    """``train/align`` → ``train_step/align``."""
    return STEP_PREFIX + short_name(series)


def short_name(series: str) -> str:
    """``train/align`` → ``align``: the name within its group (a module's attribute names)."""
    return series.split("/", 1)[1]


@dataclass(frozen=True)
class Measure:
    """One number of summary.json's results.

    ``series`` is the metrics.csv column it summarises; ``how`` is ``last`` (its final value),
    ``window`` (the mean over the last ``record.last_epochs`` epochs, as the paper's tables) or
    ``set`` (written directly: the linear evaluation, the monitors' final measurement)."""

    key: str
    series: str | None
    how: str
    title: str  # the report's column title
    percent: bool = False


MEASURES: tuple[Measure, ...] = (
    Measure("align", ALIGN, "window", "L_align"),
    Measure("uniform", UNIFORM, "window", "L_uniform"),
    Measure("probe_acc", PROBE_ACC, "last", "probe acc (%)", percent=True),
    Measure("knn_acc", KNN_ACC, "last", "kNN acc (%)", percent=True),
    Measure("linear_acc", None, "set", "linear acc (%)", percent=True),
    # eval.literal: the same probe on the raw features, the paper's literal protocol (no z-scoring)
    Measure("linear_acc_literal", None, "set", "linear acc, literal (%)", percent=True),
    # Final values of the collapse monitors (their last measurement, at the last epoch) …
    Measure("uniform_backbone", "monitor/uniform_backbone", "last", "L_uniform(h)"),
    Measure("uniform_projector", "monitor/uniform_projector", "last", "L_uniform(z)"),
    Measure("rank_backbone", "monitor/rank_backbone", "last", "rank(h)"),
    Measure("rank_projector", "monitor/rank_projector", "last", "rank(z)"),
    Measure("std_projector", "monitor/std_projector", "last", "std(n(z))"),
    Measure("predictor_identity_distance", "monitor/predictor_identity_distance", "last", "‖W − I‖/√d"),
    Measure("predictor_asymmetry", "monitor/predictor_asymmetry", "last", "‖W − Wᵀ‖/‖W‖"),
    Measure("predictor_eigen_alignment", "monitor/predictor_eigen_alignment", "last", "eigen-alignment(W, F)"),
    # … and, where the paper's tables average L_uniform over the last epochs, the same window.
    Measure("uniform_backbone_last", "monitor/uniform_backbone", "window", "L_uniform(h), last epochs"),
    Measure("uniform_projector_last", "monitor/uniform_projector", "window", "L_uniform(z), last epochs"),
)
BY_KEY = {m.key: m for m in MEASURES}


def summarised(rows: list[dict[str, float]], last_epochs: int) -> dict[str, float | None]:
    """The ``last`` and ``window`` measures of a run's epoch rows (metrics.csv's, one dict per
    epoch, a cell left out where its series was not measured): the one definition of how the
    epochs become summary.json's results, for its writer and for whoever checks a record."""
    results: dict[str, float | None] = {}
    for measure in MEASURES:
        values = [row[measure.series] for row in rows if measure.series in row] if measure.series else []
        if measure.how == "last":
            results[measure.key] = values[-1] if values else None
        elif measure.how == "window":
            window = values[-last_epochs:]
            results[measure.key] = sum(window) / len(window) if window else None
    return results
