"""The named contracts between objectives, data and callbacks, so that none reaches into another.

- ``StepOutput``: what ``training_step`` returns; Lightning hands it to every callback's
  ``on_train_batch_end`` as ``outputs`` (the divergence guard reads ``loss``, the online probe
  ``features`` and ``labels``, the collapse monitors' step rows ``terms``).
- ``EvalOutput``: what ``validation_step`` returns (the probe's validation features).
- ``Online``: what the linear evaluation needs of a module: its online network f_θ.
- ``MeanTeacher``: a module with a mean teacher (``objectives.teacher.WithTeacher``): the online
  network f_θ and its mean teacher f_ξ, with the same parameters in the same order (the theory
  checks replay the EMA from them).
- ``PlainData``: what the kNN monitor, the online probe and the linear evaluation need of a
  datamodule: its class count, and the un-augmented training and test images, in order, as
  (x, y) batches.
- ``UNLABELLED``: the label of a training image that has none (STL-10's unlabelled split). A
  datamodule whose two-view batches may hold it says so with ``has_unlabelled = True``; the
  online probe then trains on the labelled images of each batch only.
- ``DivergedError``: numbers that stopped being finite (the loss, the weights a checkpoint would
  keep, the features an evaluation would fit): a result of the objective, recorded ``diverged``.
- ``RUN_SIGNALS``: the signals that stop a run after a checkpoint (SLURM's preemption and
  time-limit warnings, ``kill``, Ctrl-C, Ctrl-\\, a closed terminal or SSH session): the run
  handles them, its DataLoader workers ignore them.
"""

from __future__ import annotations

from typing import NotRequired, Protocol, TypedDict, runtime_checkable

from torch import Tensor, nn
from torch.utils.data import DataLoader


class DivergedError(RuntimeError):
    """Numbers that stopped being finite: a result of the objective, not a bug. ``step`` (counted
    from 0, as steps.csv counts), ``epoch`` and ``terms`` (the step's logged values) say where
    and what, so that the collapse monitors keep the step's row."""

    def __init__(
        self, message: str, step: int | None = None, epoch: int | None = None, terms: dict[str, float] | None = None
    ) -> None:
        super().__init__(message)
        self.step, self.epoch, self.terms = step, epoch, dict(terms or {})


RUN_SIGNALS = ("SIGTERM", "SIGUSR1", "SIGUSR2", "SIGINT", "SIGHUP", "SIGQUIT")
UNLABELLED = -1


class StepOutput(TypedDict):
    loss: Tensor  # the objective's loss, with its graph (Lightning runs backward on it)
    features: Tensor  # (B, D_h) backbone features of view 1, detached: no probe gradient reaches θ
    labels: Tensor  # (B,)
    # The step's logged values by name (loss, align, cross, uniform: measures' train/<name>),
    # detached scalars on the device; absent where a module logs none.
    terms: NotRequired[dict[str, Tensor]]


class EvalOutput(TypedDict):
    features: Tensor  # (B, D_h) backbone features of the un-augmented image
    labels: Tensor  # (B,)


@runtime_checkable
class Online(Protocol):
    online: nn.Module  # f_θ: backbone and projector


@runtime_checkable
class MeanTeacher(Protocol):
    online: nn.Module  # f_θ: backbone and projector, trained by the optimiser
    target: nn.Module  # f_ξ: the same architecture, changed only by the EMA update


@runtime_checkable
class PlainData(Protocol):
    num_classes: int

    def plain_train_dataloader(self) -> DataLoader: ...

    def plain_val_dataloader(self) -> DataLoader: ...
