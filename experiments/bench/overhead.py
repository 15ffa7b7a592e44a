"""``lightning_overhead``: the demo configuration's training step in plain PyTorch against the
same step in Lightning with the demo's callbacks and logger, alternating step by step on
pre-built batches (ms/step); ``overhead_pct`` = (Lightning / plain − 1)·100 of the medians."""

from __future__ import annotations

import statistics
import tempfile
import time
from types import SimpleNamespace
from typing import Any

import torch

from experiments.bench.harness import compose, entry, logging_outside_a_trainer

# The callbacks that act on every training step, run by the plain step too (in the config's order:
# the divergence guard looks at the loss before the probe acts). The EMA is the module's own.
STEP_CALLBACKS = ("divergence", "probe")


def demo_batches(cfg: Any, steps: int) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Pre-built batches of the demo's shape, so that both loops time the step, not the data."""
    g = torch.Generator().manual_seed(0)
    size, batch = cfg.data.image_size, cfg.data.batch_size
    return [
        (
            torch.randn(batch, 3, size, size, generator=g),
            torch.randn(batch, 3, size, size, generator=g),
            torch.randint(0, cfg.data.num_classes, (batch,), generator=g),
        )
        for _ in range(steps)
    ]


class PlainLoop(SimpleNamespace):
    """What the per-step callbacks read of a Trainer, kept by the plain loop: the optimiser steps
    taken, their planned total (the τ schedule), the epoch and its length, one process on the CPU. A
    callback that reads anything else fails here with an AttributeError, loudly."""

    def __init__(self, total_steps: int) -> None:
        super().__init__(
            global_step=0,
            current_epoch=0,
            estimated_stepping_batches=total_steps,
            num_training_batches=total_steps,  # one epoch of them: the guard also checks its last step
            max_steps=-1,  # Lightning's "no limit"
            log_every_n_steps=50,  # Lightning's default: the probe's step-level log, every 50th step
            datamodule=None,  # the batches come from the plain loop's own loader
            world_size=1,
            strategy=SimpleNamespace(root_device=torch.device("cpu")),
        )


class PlainStep:
    """Algorithm 1's step in plain PyTorch, on the real objects, so that it cannot drift from the
    step Lightning runs: the next batch from its own DataLoader, the objective's own
    ``training_step`` (both views through the online network and predictor, the target without
    gradient, the loss, the epoch means), backward, the configured optimiser's step, the module's
    own ``after_optimizer_step`` (the EMA: its τ, its ``ema_update_``), then the per-step work of
    the real divergence guard and online probe (its classifier's own step), each through its own
    ``on_train_batch_end``.

    Left out on purpose, as what the benchmark charges to Lightning: its fit loop (fetcher,
    progress tracking, the automatic-optimisation closure, the dispatch of every hook to every
    callback), its logging (``self.log`` outside a Trainer only warns and returns: no result
    collection, no CSV logger) and the other callbacks' hooks (epoch metrics, kNN, preemption,
    checkpoint), none of which does work on a step of the demo."""

    def __init__(self, cfg: Any, batches: list) -> None:
        from hydra.utils import instantiate

        from raft_lightning.run.build import build_objective

        torch.manual_seed(cfg.seed)
        self.module = build_objective(cfg).train()
        self.optimizer = self.module.configure_optimizers()
        self.loop = PlainLoop(total_steps=len(batches))
        self.callbacks = [instantiate(node) for name, node in cfg.callbacks.items() if name in STEP_CALLBACKS]
        for callback in self.callbacks:
            callback.setup(self.loop, self.module, "fit")
        self.batches = iter(torch.utils.data.DataLoader(batches, batch_size=None))
        self.batch_idx = 0

    def __call__(self) -> None:
        batch, module, loop = next(self.batches), self.module, self.loop
        with logging_outside_a_trainer():
            outputs = module.training_step(batch, self.batch_idx)
            self.optimizer.zero_grad(set_to_none=True)
            outputs["loss"].backward()
            self.optimizer.step()
            module.after_optimizer_step(loop.global_step + 1, loop.estimated_stepping_batches)
            loop.global_step += 1
            for callback in self.callbacks:
                callback.on_train_batch_end(loop, module, outputs, batch, self.batch_idx)
        self.batch_idx += 1


def paired_step_times(cfg: Any, batches: list) -> tuple[list[float], list[float]]:
    """ms of each Lightning step and of a plain step right after it, alternating.

    Lightning runs ``trainer.fit`` with the demo's callbacks and logger; a last callback, at the
    end of each Lightning step, runs one plain step on its own model, optimiser and probe. A
    Lightning step is timed from the end of the previous plain step to the end of its own
    callbacks, so it holds all of Lightning's work between steps. Alternating step by step puts
    both variants under the same load of the machine (its cores are shared)."""
    import lightning as L

    from raft_lightning.run.build import build

    plain = PlainStep(cfg, batches)
    torch.manual_seed(cfg.seed)
    _, model, trainer = build(cfg)
    lightning_ms, plain_ms = [], []
    last = [0.0]

    class Alternate(L.Callback):
        def on_train_batch_start(self, trainer: Any, *args: Any) -> None:
            if not last[0]:
                last[0] = time.perf_counter()

        def on_train_batch_end(self, trainer: Any, *args: Any) -> None:
            end = time.perf_counter()
            lightning_ms.append(1000 * (end - last[0]))
            plain()
            last[0] = time.perf_counter()
            plain_ms.append(1000 * (last[0] - end))

    trainer.callbacks.append(Alternate())
    trainer.fit(model, train_dataloaders=torch.utils.data.DataLoader(batches, batch_size=None))
    return plain_ms, lightning_ms


def bench_lightning_overhead(steps: int, warmup: int = 2) -> dict[str, Any]:
    import lightning as L

    with tempfile.TemporaryDirectory() as out:
        cfg = compose(
            [
                "experiment=demo",
                "++trainer.max_epochs=1",
                f"++trainer.limit_train_batches={steps}",
                "++trainer.limit_val_batches=0",
                "++trainer.enable_progress_bar=false",
                "++trainer.enable_model_summary=false",
            ],
            out,
        )
        L.seed_everything(cfg.seed, verbose=False)
        plain, lightning = paired_step_times(cfg, demo_batches(cfg, steps))
    plain, lightning = plain[warmup:], lightning[warmup:]
    result = entry(
        plain,
        lightning,
        "ms/step",
        higher_is_better=False,
        baseline_name="plain PyTorch step: the module's own training_step, backward, optimiser step, then the "
        "divergence guard's, EMA's and probe's own per-step updates",
        candidate_name="Lightning Trainer.fit with the demo's callbacks and CSV logger (no progress bar)",
        config=f"experiment=demo (convnet width {cfg.model.backbone.width}, "
        f"{cfg.data.image_size}×{cfg.data.image_size}, batch {cfg.data.batch_size})",
        steps=steps,
        warmup_steps=warmup,
        method="the two alternate step by step in one process; medians over the steps after warm-up",
    )
    result["overhead_pct"] = 100 * (result["candidate"] / result["baseline"] - 1)
    result["paired_overhead_pct"] = statistics.median(100 * (c / b - 1) for b, c in zip(plain, lightning))
    return result
