"""``monitors``: the wall time of training at the demo's scale with the collapse monitors
(``callbacks.monitors``) and without, alternating in one process; ``overhead_pct`` =
(with / without − 1)·100 of the medians.

The demo's setting (``experiment=demo``, RAFT with a linear predictor: every monitor, the
teacher's included) on generated images of Fashion-MNIST's shape and the demo's sizes (10 000
training, 2 000 test images, 28×28, 10 classes), so that it runs without the dataset; the step
costs the same (both are uint8 tensors in memory). Every step of the few epochs timed is a
dense step (``dense_steps`` = 500 > their steps), so the overhead is an upper bound for a whole
demo run, whose 2 340 steps are mostly sparse. The kNN monitor and the probe run as in the
demo; the linear evaluation after training is left out of both (it would only dilute the ratio).
"""

from __future__ import annotations

import tempfile
import time
from typing import Any

from experiments.bench.harness import compose, entry

DEMO_DATA = (  # Fashion-MNIST's shape and the demo's subset sizes (experiment/fmnist_cpu.yaml)
    "data=synthetic",
    "data.num_classes=10",
    "data.train_size=10000",
    "data.val_size=2000",
    "data.source_size=28",
    "~data.train_subset",
    "~data.val_subset",
)


def fit_overrides(experiment: str, epochs: int) -> list[str]:
    """RAFT-LP at ``experiment``'s scale on the generated demo-sized images, ``epochs`` long, with
    nothing but the fit: no linear evaluation, logger, checkpoints or console output."""
    return [
        f"experiment={experiment}",
        "variant=raft_lp",
        *DEMO_DATA,
        f"trainer.max_epochs={epochs}",
        "eval.linear=false",
        "logger=none",
        "++trainer.enable_progress_bar=false",
        "++trainer.enable_model_summary=false",
        "++trainer.enable_checkpointing=false",
        "callbacks.checkpoint=null",
    ]


def fit(overrides: list[str]) -> tuple[float, Any, Any]:
    """A freshly built run fitted: the seconds of ``trainer.fit`` (building and data set-up
    untimed), the module and the Trainer."""
    import lightning as L

    from raft_lightning.run.build import build

    with tempfile.TemporaryDirectory() as out:
        cfg = compose(overrides, out)
        L.seed_everything(cfg.seed, verbose=False)
        datamodule, model, trainer = build(cfg)
        datamodule.setup("fit")
        start = time.perf_counter()
        trainer.fit(model, datamodule=datamodule)
        return time.perf_counter() - start, model, trainer


def timed_fit(overrides: list[str]) -> float:
    """Seconds of ``trainer.fit`` of a freshly built run (building and data set-up untimed)."""
    return fit(overrides)[0]


def bench_monitors(epochs: int, repeats: int, quick: bool = False) -> dict[str, Any]:
    """``quick``: 12 steps an epoch and no kNN monitor (its pass over 12 000 images would be most
    of such a fit): the entry's structure in seconds, not a measurement."""
    common = fit_overrides("demo", epochs)
    limit_train_batches = 12 if quick else None
    if quick:  # and a tenth of the images: building 12 000 generated ones would be most of a quick fit
        common += [
            f"++trainer.limit_train_batches={limit_train_batches}",
            "callbacks.knn=null",
            "data.train_size=1024",
            "data.val_size=512",
        ]
    off, on = [], []
    timed_fit([*common, "callbacks.monitors=null"])  # warm-up: first-call costs charged to neither
    for i in range(repeats):
        # ABBA: neither variant always runs first, under the same load of the shared cores.
        for monitors in (True, False) if i % 2 == 0 else (False, True):
            extra = [] if monitors else ["callbacks.monitors=null"]
            (on if monitors else off).append(timed_fit([*common, *extra]))
    cfg = compose(common, tempfile.gettempdir())
    steps = epochs * (limit_train_batches or cfg.data.train_size // cfg.data.batch_size)
    result = entry(
        off,
        on,
        "s/fit",
        higher_is_better=False,
        baseline_name="Trainer.fit at the demo's scale, callbacks.monitors=null",
        candidate_name=f"the same with the collapse monitors ({cfg.callbacks.monitors.samples} held-out images, "
        f"every {cfg.callbacks.monitors.every_n_epochs} epoch(s), dense step rows)",
        config=f"experiment=demo variant=raft_lp on generated 28×28 images, {epochs} epochs, {steps} steps, "
        f"all dense (dense_steps={cfg.callbacks.monitors.dense_steps})",
        epochs=epochs,
        steps=steps,
        method="ABBA-alternated fits in one process after one untimed warm-up fit; medians of the fits",
        quick=quick,
    )
    result["overhead_pct"] = 100 * (result["candidate"] / result["baseline"] - 1)
    return result
