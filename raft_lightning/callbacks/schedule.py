"""When a measurement taken every few epochs is due: on its epochs, and at the run's last epoch,
however the run ends there (``trainer.max_epochs``, or ``trainer.max_steps`` reached first)."""

from __future__ import annotations

import lightning as L


def due(trainer: L.Trainer, every: int) -> bool:
    return (trainer.current_epoch + 1) % every == 0 or last_epoch(trainer)


def last_epoch(trainer: L.Trainer) -> bool:
    """Whether the epoch now ending is the run's last: its max_epochs-th, or the one in which
    max_steps optimiser steps were reached (Lightning stops there, possibly mid-epoch)."""
    epochs, steps = trainer.max_epochs, trainer.max_steps
    if epochs is not None and epochs > 0 and trainer.current_epoch + 1 >= epochs:
        return True
    return steps is not None and steps >= 0 and trainer.global_step >= steps
