"""Collapse monitors: what the network does to a fixed held-out batch, epoch by epoch, and the
loss terms and the predictor step by step while training starts (docs/instruments.md)."""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.trainer.states import TrainerFn
from torch import Tensor, nn

from raft_lightning.callbacks.schedule import due
from raft_lightning.contracts import DivergedError, PlainData
from raft_lightning.evaluation import spectrum
from raft_lightning.files import SPECTRA_FILE, STEPS_FILE, write_atomically
from raft_lightning.measures import LAYERS, MONITOR_PREFIX, STEP_PREFIX, TARGET
from raft_lightning.models import LinearPredictor
from raft_lightning.values import integer_errors

log = logging.getLogger(__name__)
SPECTRA_COLUMNS = ("epoch", "network", "layer", "index", "singular_value")


class CollapseMonitors(L.Callback):
    """Every ``every_n_epochs`` epochs and at the last, in eval mode and without gradient, on
    ``samples`` un-augmented test images (the same ones for every run: drawn once with a
    generator seeded by ``batch_seed``), for the backbone output h and projector output z of the
    online network and, where the module has one, of its teacher (``monitor/target_<key>``):
    L_uniform, RankMe, the std of the l2-normalised features (``monitor/<key>``, metrics.csv),
    and their singular values (spectra.csv). For a linear predictor W: ‖W − I‖_F/√d,
    ‖W − Wᵀ‖_F/‖W‖_F and the eigen-alignment of W with E[f fᵀ] of its held-out input f.

    Step rows (steps.csv, and the loggers as ``train_step/<name>``): every optimiser step for the
    first ``dense_steps`` steps, then every ``trainer.log_every_n_steps``: the step's loss terms
    and, for a linear predictor, ‖W − I‖_F/√d and the asymmetry of the W that produced them; and
    the row of the step whose loss stopped being finite, whichever step that is.

    Training is not changed: no global random draw (the batch is drawn with its own generator),
    no parameter, buffer or mode left changed. A random baseline (validated, never fitted) is
    measured once, as epoch 0. Under gradient accumulation a step row holds the last batch's terms.
    """

    def __init__(
        self, dir: str, samples: int = 512, every_n_epochs: int = 1, dense_steps: int = 500, batch_seed: int = 0
    ) -> None:
        errors = self.config_errors(
            samples=samples, every_n_epochs=every_n_epochs, dense_steps=dense_steps, batch_seed=batch_seed
        )
        if errors:
            raise ValueError("; ".join(errors))
        self.dir, self.samples, self.every = Path(dir), int(samples), int(every_n_epochs)
        self.dense_steps, self.batch_seed = int(dense_steps), int(batch_seed)
        self.step_rows: list[dict[str, float]] = []
        self.spectra: list[dict[str, Any]] = []  # {"epoch", "network", "layer", "values": Tensor}
        self._batch: Tensor | None = None
        self._pending: tuple[int, dict[str, Tensor]] | None = None

    @staticmethod
    def config_errors(samples: Any, every_n_epochs: Any, dense_steps: Any, batch_seed: Any, **_: Any) -> list[str]:
        return [
            *integer_errors("samples", samples, 2),
            *integer_errors("every_n_epochs", every_n_epochs, 1),
            *integer_errors("dense_steps", dense_steps, 0),
            *integer_errors("batch_seed", batch_seed, 0),
        ]

    # Step rows.

    def _records(self, trainer: L.Trainer, step: int) -> bool:
        return step < self.dense_steps or (step + 1) % max(trainer.log_every_n_steps, 1) == 0

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        step = trainer.global_step
        self._pending = None
        if self._records(trainer, step):
            w = linear_weight(pl_module)
            # Of the W this step's loss was computed with, before the optimiser changes it.
            values = {} if w is None else predictor_step_values(w.detach())
            self._pending = (step, values)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, *args: Any) -> None:
        if self._pending is None or trainer.global_step == self._pending[0]:  # no optimiser step yet
            return
        step, values = self._pending
        self._pending = None
        terms = outputs.get("terms", {}) if isinstance(outputs, dict) else {}
        values = {**{k: v.detach() for k, v in terms.items()}, **values}
        numbers = torch.stack([v.float().reshape(()) for v in values.values()]).tolist() if values else []
        series = dict(zip(values, numbers))
        self.step_rows.append({"step": step, "epoch": trainer.current_epoch + 1, **series})
        # Lightning sends the module's own step series to the loggers on its logging steps: the
        # others, and every series on the dense steps in between, go from here.
        lightning_logs = (step + 1) % max(trainer.log_every_n_steps, 1) == 0
        sent = {STEP_PREFIX + k: v for k, v in series.items() if not (lightning_logs and k in terms)}
        if sent and trainer.is_global_zero:
            for logger in trainer.loggers:
                logger.log_metrics(sent, step=step)

    # Epoch monitors.

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if due(trainer, self.every) or trainer.should_stop:
            self.measure(trainer, pl_module, trainer.current_epoch + 1)
        else:  # Lightning keeps the last logged values: this epoch's row must not repeat them as its own
            for key in [k for k in trainer.callback_metrics if k.startswith(MONITOR_PREFIX)]:
                del trainer.callback_metrics[key]
        self._write(trainer)

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.state.fn == TrainerFn.VALIDATING and not trainer.sanity_checking:  # a random baseline
            self.measure(trainer, pl_module, trainer.current_epoch)
            self._write(trainer)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._write(trainer)

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        # A diverged run keeps the steps that show how it went, the diverged one last: the guard
        # stops the run before this callback's on_train_batch_end would have written it.
        if isinstance(exception, DivergedError) and exception.step is not None:
            if not self.step_rows or self.step_rows[-1]["step"] < exception.step:
                pending = self._pending if self._pending and self._pending[0] == exception.step else None
                weights = {k: float(v.float().reshape(())) for k, v in pending[1].items()} if pending else {}
                row = {"step": exception.step, "epoch": exception.epoch, **exception.terms, **weights}
                self.step_rows.append(row)
        self._write(trainer)

    def measure(self, trainer: L.Trainer, pl_module: L.LightningModule, epoch: int) -> dict[str, float]:
        """Every monitor on the held-out batch, logged as ``monitor/<key>``; their spectra kept."""
        x = self.held_out(trainer)
        if x is None:
            return {}
        networks = {"online": pl_module.online}
        target = getattr(pl_module, "target", None)
        if isinstance(target, nn.Module):
            networks["target"] = target
        values: dict[str, float] = {}
        with torch.no_grad(), eval_mode(pl_module):
            for name, network in networks.items():
                features = forward(network, x, pl_module)
                prefix = "" if name == "online" else TARGET
                for layer, z in zip(LAYERS, features):
                    s = spectrum.singular_values(z)
                    self.spectra.append({"epoch": epoch, "network": name, "layer": layer, "values": s.float()})
                    values[f"{prefix}uniform_{layer}"] = float(spectrum.uniformity(z))
                    values[f"{prefix}rank_{layer}"] = float(spectrum.effective_rank(s))
                    values[f"{prefix}std_{layer}"] = float(spectrum.normalized_std(z))
                if name == "online":
                    values |= predictor_values(pl_module, features[1])
        for key, value in values.items():
            pl_module.log(MONITOR_PREFIX + key, value, on_step=False, on_epoch=True, batch_size=len(x))
        return values

    def held_out(self, trainer: L.Trainer) -> Tensor | None:
        """The fixed batch, (samples, C, H, W) on the CPU: drawn once from the datamodule's plain
        test images with its own generator (neither the global RNG nor the loaders' are touched)."""
        if self._batch is None:
            datamodule = trainer.datamodule
            if not isinstance(datamodule, PlainData):
                log.warning("collapse monitors: the datamodule serves no plain test images; not measured")
                return None
            dataset = datamodule.plain_val_dataloader().dataset
            if self.samples > len(dataset):  # the monitors measure what there is, and say so
                n = len(dataset)
                what = f"callbacks.monitors.samples={self.samples}, but the test set holds {n} images"
                log.warning("collapse monitors: %s: all %d are used", what, n)
            generator = torch.Generator().manual_seed(self.batch_seed)
            indices = torch.randperm(len(dataset), generator=generator)[: self.samples].sort().values
            self._batch = torch.stack([dataset[int(i)][0] for i in indices])
        return self._batch

    # Files.

    def _write(self, trainer: L.Trainer) -> None:
        if not trainer.is_global_zero:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        if self.step_rows:
            write_csv(self.dir / STEPS_FILE, self.step_rows)
        if self.spectra:
            text = io.StringIO(newline="")
            writer = csv.writer(text)
            writer.writerow(SPECTRA_COLUMNS)
            for entry in self.spectra:
                for index, value in enumerate(entry["values"].tolist()):
                    writer.writerow((entry["epoch"], entry["network"], entry["layer"], index, repr(value)))
            write_atomically(self.dir / SPECTRA_FILE, text.getvalue())

    def state_dict(self) -> dict[str, Any]:
        return {"step_rows": self.step_rows, "spectra": self.spectra}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.step_rows = list(state_dict["step_rows"])
        self.spectra = list(state_dict["spectra"])


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    write_atomically(path, text.getvalue())


def linear_weight(module: L.LightningModule) -> Tensor | None:
    predictor = getattr(module, "predictor", None)
    return predictor.linear.weight if isinstance(predictor, LinearPredictor) else None


def predictor_step_values(w: Tensor) -> dict[str, Tensor]:
    return {
        "predictor_identity_distance": spectrum.identity_distance(w),
        "predictor_asymmetry": spectrum.asymmetry(w),
    }


def predictor_values(module: L.LightningModule, f: Tensor) -> dict[str, float]:
    """The linear predictor's monitors, its input f = the online projections of the batch."""
    w = linear_weight(module)
    if w is None:
        return {}
    w = w.detach().to("cpu", torch.float64)
    values = {k: float(v) for k, v in predictor_step_values(w).items()}
    return values | {"predictor_eigen_alignment": float(spectrum.eigen_alignment(w, f))}


def forward(network: nn.Module, x: Tensor, module: L.LightningModule, chunk: int = 256) -> tuple[Tensor, Tensor]:
    """(h, z) of the batch, in float64 on the CPU: the spectra do not depend on the device."""
    dtype = next((p.dtype for p in network.parameters() if p.is_floating_point()), torch.float32)
    memory_format = getattr(module, "memory_format", torch.contiguous_format)
    outputs = []
    for part in x.split(chunk):
        part = part.to(module.device, dtype=dtype).contiguous(memory_format=memory_format)
        outputs.append(tuple(o.to("cpu", torch.float64) for o in network(part)))
    return tuple(torch.cat(parts) for parts in zip(*outputs))  # type: ignore[return-value]


class eval_mode:
    """Every submodule in eval mode inside, each back to its own mode after (not ``train()``: a
    submodule that was in eval mode stays there)."""

    def __init__(self, module: nn.Module) -> None:
        self.modes = [(m, m.training) for m in module.modules()]
        self.module = module

    def __enter__(self) -> None:
        self.module.eval()

    def __exit__(self, *exc: Any) -> None:
        for m, training in self.modes:
            m.training = training
