"""What every objective shares: the online network, the predictor and Algorithm 1's step.

An objective subclasses ``SelfSupervised`` (no teacher: SimSiam, the baselines) or
``objectives.teacher.WithTeacher`` (a mean teacher f_ξ: BYOL, BYOL', RAFT, DirectPred) and
defines ``objective`` — its loss — and, where they differ, ``targets``. The linear probe lives
in ``raft_lightning.callbacks.OnlineProbe``; the optimiser arrives as a factory.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import lightning as L
import torch
from torch import Tensor, nn

from raft_lightning.contracts import EvalOutput, StepOutput
from raft_lightning.losses import alignment_loss, same_view_cross_model_loss, uniformity_loss
from raft_lightning.measures import ALIGN, CROSS, LOSS, UNIFORM, short_name, step_series
from raft_lightning.metrics import EpochMean
from raft_lightning.models import Encoder
from raft_lightning.values import FLOAT32_MAX

EPOCH_SERIES = (LOSS, ALIGN, CROSS, UNIFORM)  # raft_lightning.measures
EPOCH_METRICS = tuple(short_name(s) for s in EPOCH_SERIES)  # their epoch means: epoch_means[<name>]
OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]


def compile_backends() -> list[str]:
    """torch.compile's backends, the debugging ones ("eager", "aot_eager") included."""
    import torch._dynamo  # imported on demand: it takes a second

    return torch._dynamo.list_backends(exclude_tags=())


def logging_step(module: L.LightningModule) -> bool:
    """Whether Lightning writes its logs after this training step (every ``log_every_n_steps``
    optimiser steps, as its logger connector counts them). Host integers only."""
    trainer = module._trainer
    return trainer is not None and (module.global_step + 1) % max(trainer.log_every_n_steps, 1) == 0


class SelfSupervised(L.LightningModule):
    """Online network f_θ = projector ∘ backbone and predictor q_w (Figure 1); the targets the
    predictions are compared with come from ``targets`` (a mean teacher in ``WithTeacher``).

    Args:
        backbone: encoder without classifier, with an ``out_dim`` attribute.
        projector: factory taking ``input_dim`` (the backbone's ``out_dim``).
        predictor: q_w, e.g. ``MLPHead``, ``LinearPredictor`` or ``nn.Identity``.
        optimizer: factory taking the online parameters (Hydra ``_partial_``).
        alpha, beta: weights of L_align and L_cross-model.
        tangential: keep only the tangential gradient of L_cross-model (Section 5).
        channels_last: NHWC weights and inputs (faster convolutions on tensor-core GPUs).
        compile: ``torch.compile`` the online, predictor (and target) networks (``True``:
            inductor; a string names another backend, e.g. ``"eager"`` to check the wiring).
    """

    pretrain = True  # False for baselines that are evaluated as initialised

    def __init__(
        self,
        backbone: nn.Module,
        projector: Callable[..., nn.Module],
        predictor: nn.Module,
        optimizer: OptimizerFactory,
        alpha: float = 1.0,
        beta: float = 1.0,
        tangential: bool = False,
        channels_last: bool = False,
        compile: bool | str = False,
    ) -> None:
        super().__init__()
        errors = self.config_errors(alpha=alpha, beta=beta, tangential=tangential, compile=compile)
        if errors:
            raise ValueError("; ".join(errors))
        self.online = Encoder(backbone, projector(input_dim=backbone.out_dim))
        self.predictor = predictor
        self.add_networks()  # WithTeacher: the mean teacher f_ξ, a copy of f_θ as initialised
        self.optimizer_factory = optimizer
        self.alpha, self.beta, self.tangential = float(alpha), float(beta), bool(tangential)
        # Epoch means of the Table 1 columns, kept as persistent state: a run restored from a
        # mid-epoch checkpoint finishes that epoch with the same means as an uninterrupted one.
        self.epoch_means = nn.ModuleDict({name: EpochMean() for name in EPOCH_METRICS})
        for metric in self.epoch_means.values():
            metric.persistent(True)
        self._means_logged = False
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.to(memory_format=self.memory_format)
        if compile:
            # Module.compile keeps parameter names and objects: checkpoints and the EMA see no change.
            backend = "inductor" if compile is True else compile
            for net in self.networks():
                net.compile(backend=backend)

    def add_networks(self) -> None:
        """Networks beyond f_θ and q_w, made before anything is cast or compiled. None here."""

    def networks(self) -> list[nn.Module]:
        """The networks a forward pass runs (those ``compile`` compiles)."""
        return [self.online, self.predictor]

    @classmethod
    def config_errors(cls, alpha: Any = 1.0, beta: Any = 1.0, compile: Any = False, **_: Any) -> list[str]:
        """Problems with the configured values, as 'name=value: what is allowed'."""
        errors = []
        for name, value in (("alpha", alpha), ("beta", beta)):
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value < 0:
                errors.append(f"{name}={value!r}: must be a finite number ≥ 0")
            elif value > FLOAT32_MAX:  # the loss is a float32 tensor: β·L_uniform would be infinite
                errors.append(f"{name}={value!r}: must be ≤ {FLOAT32_MAX:g}, the largest float32")
        if not isinstance(compile, (bool, str)) or (isinstance(compile, str) and compile not in compile_backends()):
            backends = ", ".join(compile_backends())
            errors.append(f"compile={compile!r}: true, false or the name of a torch.compile backend ({backends})")
        return errors

    def objective(self, p1: Tensor, p2: Tensor, z1: Tensor, z2: Tensor) -> Tensor:
        """The objective's loss of online predictions p and targets z."""
        raise NotImplementedError

    def predict(self, f1: Tensor, f2: Tensor) -> tuple[Tensor, Tensor]:
        """p = q_w(f_θ(·)) of each view."""
        return self.predictor(f1), self.predictor(f2)

    def targets(self, x1: Tensor, x2: Tensor, f1: Tensor, f2: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        """What the predictions of the views are compared with, without gradient: the mean
        teacher's projections (``WithTeacher``), the online projections under stop-gradient
        (SimSiam) or the labels (the supervised baseline)."""
        raise NotImplementedError

    def training_step(self, batch: tuple[Tensor, Tensor, Tensor], batch_idx: int) -> StepOutput:
        x1, x2, labels = batch  # two augmented views t1(x), t2(x)
        x1, x2 = x1.contiguous(memory_format=self.memory_format), x2.contiguous(memory_format=self.memory_format)
        h1, f1 = self.online(x1)  # f_θ(t1(x)); the backbone features h1 feed the probe
        _, f2 = self.online(x2)  # views pass separately: BatchNorm statistics per view
        p1, p2 = self.predict(f1, f2)  # z_1, z_2 = q_w(f_θ(·))
        z1, z2 = self.targets(x1, x2, f1, f2, labels)  # z'_1, z'_2 = f_ξ(t1(x)), f_ξ(t2(x)): no gradient
        loss = scalar(self.objective(p1, p2, z1, z2), type(self).__name__)
        with torch.no_grad():
            terms = self._log_means(self.measures(loss, p1, p2, z1, z2, f1), batch_size=len(p1))
        return StepOutput(loss=loss, features=h1.detach(), labels=labels, terms=terms)

    def measures(self, loss: Tensor, p1: Tensor, p2: Tensor, z1: Tensor, z2: Tensor, f1: Tensor) -> dict[str, Tensor]:
        """The paper's Table 1 columns, by series of ``raft_lightning.measures``: L_align(q_w∘f_θ)
        and L_uniform(f_θ). train/cross is the same-view term for every objective, so that the
        objectives are comparable."""
        return {
            LOSS: loss.detach(),
            ALIGN: alignment_loss(p1, p2),
            CROSS: same_view_cross_model_loss(p1, p2, z1, z2),
            UNIFORM: uniformity_loss(f1),
        }

    def optimizer_step(self, epoch: int, batch_idx: int, optimizer: Any, optimizer_closure: Any = None) -> None:
        super().optimizer_step(epoch, batch_idx, optimizer, optimizer_closure)
        # Called once per optimiser step (never on a batch that only accumulates gradients);
        # Lightning counts the step as completed after this hook returns, hence the + 1.
        self.after_optimizer_step(self.trainer.global_step + 1, int(self.trainer.estimated_stepping_batches))

    def after_optimizer_step(self, step: int, total_steps: int) -> None:
        """What changes after optimiser step ``step`` (1-based) of ``total_steps`` besides θ and
        w: the mean teacher (``WithTeacher``), DirectPred's predictor. Nothing here."""

    def _log_means(self, values: dict[str, Tensor], batch_size: int) -> dict[str, Tensor]:
        """Accumulate batch values (by series of ``raft_lightning.measures``) into the epoch means
        (``EpochMean``: weighted by the batch, synced over devices when the epoch ends), and hand
        them to the loggers as step-level series (``train_step/<name>``) on the steps Lightning
        writes its logs. Returns the values by short name (the step output's ``terms``: the
        collapse monitors' dense step rows read them)."""
        weight = torch.full((), batch_size, dtype=torch.float32, device=self.device)  # made there: no host copy
        for series, value in values.items():
            self.epoch_means[short_name(series)].update(value, weight)
        if logging_step(self):
            # Only here: a log reads the value on the host when Lightning writes it, so logging on
            # other steps would cost a device sync each (and, per step, about 3 % of a demo step).
            for series, value in values.items():
                self.log(step_series(series), value, on_step=True, on_epoch=False, prog_bar=series == LOSS)
        if not self._means_logged:
            # Lightning holds a logged Metric until the epoch ends and computes it then, so one
            # log per epoch is enough; a log per step cost about 3 % of a demo step (experiments/bench).
            for series in values:
                name = short_name(series)
                metric = self.epoch_means[name]
                self.log(series, metric, on_step=False, on_epoch=True, metric_attribute=f"epoch_means.{name}")
            self._means_logged = True
        return {short_name(series): value for series, value in values.items()}

    def on_train_start(self) -> None:
        self._means_logged = False  # a run restored mid-epoch starts without on_train_epoch_start

    def on_train_epoch_start(self) -> None:
        for metric in self.epoch_means.values():
            metric.reset()
        self._means_logged = False

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> EvalOutput:
        x, labels = batch
        h, _ = self.online(x.contiguous(memory_format=self.memory_format))
        return EvalOutput(features=h, labels=labels)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        params = [*self.online.parameters(), *self.predictor.parameters()]
        return self.optimizer_factory(params)


def scalar(loss: Any, method: str) -> Tensor:
    """The objective's value, which must be one number: a per-sample loss would fail later, inside
    logging or backward, with every value of both tensors in its message."""
    if not isinstance(loss, Tensor) or loss.dim() != 0:
        got = f"a tensor of shape {tuple(loss.shape)}" if isinstance(loss, Tensor) else f"a {type(loss).__name__}"
        raise ValueError(
            f"{method}.objective returned {got}: it must return the loss as a scalar tensor (e.g. .mean())"
        )
    return loss
