"""Signals over the whole life of a run, not only during ``fit``.

SLURM preempts with SIGTERM and warns of the time limit with SIGUSR2 (submitit's
``--signal=USR2@...``); a user stops with Ctrl-C (SIGINT) or ``kill``. While an attempt runs,
each of these becomes an ``Interrupted`` exception where nothing is half-done: raised at once
outside training (start-up, the baselines' validation, the linear evaluation: nothing there
needs saving, the checkpoint on disk is the state), and at the next batch boundary, after a
checkpoint, during training (``callbacks.Preemption`` takes the signals over for that). On exit
the handlers that were there before come back, so that between the runs of a sweep a signal
does what it always did, and ``hand_back`` can pass the signal on (submitit requeues, a shell
ends the process).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

from raft_lightning.callbacks.preemption import Interrupted, detach_if_hung_up, ignored, note_received, take_received
from raft_lightning.contracts import RUN_SIGNALS

SIGNALS = tuple(signal.Signals[name] for name in RUN_SIGNALS)


def _interrupt(signum: int, frame: Any) -> None:
    detach_if_hung_up(signum)
    note_received(signum)  # if the exception below is swallowed where it lands, the signal is not
    raise Interrupted(signum)


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """Turn the run's signals into ``Interrupted`` for the duration of the block. A signal this
    process was started ignoring (``nohup`` ignores SIGHUP, a background job SIGINT) stays ignored:
    whoever started it asked for that."""
    if threading.current_thread() is not threading.main_thread():
        yield  # Python delivers signals to the main thread only
        return
    take_received()  # a new attempt: what an earlier one received was acted on then
    previous = {signum: signal.signal(signum, _interrupt) for signum in SIGNALS if not ignored(signum)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def unanswered_signal(summary: dict[str, Any]) -> str | None:
    """The signal to hand back after a run: the one that interrupted it, else one it received
    that nothing acted on (swallowed where it landed, or after training's last check: the run
    finished and is recorded ``ok``, but the sweep must still stop, or submitit requeue)."""
    received = take_received()
    if summary.get("signal") and summary.get("status") == "interrupted":
        return str(summary["signal"])
    return signal.Signals(received).name if received is not None else None


def hand_back(name: str) -> None:
    """Raise the signal again, now that the run is recorded, for its previous handler to act on:
    under submitit it requeues the job; in a shell the default action ends the process (and the
    sweep), as ``kill`` or Ctrl-C meant — for SIGINT without a KeyboardInterrupt traceback."""
    signum = signal.Signals[name]
    if signal.getsignal(signum) is signal.default_int_handler:
        signal.signal(signum, signal.SIG_DFL)
    signal.raise_signal(signum)
