"""The DataLoader workers' life: they leave the run's signals to the main process, and whatever
a run leaves of them is ended when the run ends; an error raised in one reads as one line."""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import os
import signal
from collections.abc import Iterator

from torch.utils.data.dataloader import _MultiProcessingDataLoaderIter

from raft_lightning.contracts import RUN_SIGNALS

WORKER_TRACEBACK = "Original Traceback (most recent call last):"  # torch's, in the re-raised error


def worker_count(asked: int) -> int:
    """``data.num_workers``, at most the CPUs this process may run on: more workers only wait
    for a CPU (and torch warns of each). Views do not depend on the worker that draws them."""
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        usable = os.cpu_count() or 1
    return min(asked, usable)


def leave_signals_to_the_main_process(worker_id: int) -> None:
    """SLURM signals every process of a job step (scancel, preemption, ``--signal=USR2@…``), the
    DataLoader's workers too. A worker ended by one makes the main process raise "DataLoader worker
    … is killed by signal" before it can save a checkpoint, and the run ends failed, not
    interrupted. So workers ignore the run's signals: the main process saves, stops and shuts them
    down (torch's watchdog ends a worker whose parent has gone; SLURM kills what is left)."""
    for name in RUN_SIGNALS:
        signal.signal(signal.Signals[name], signal.SIG_IGN)


@contextlib.contextmanager
def workers_ended() -> Iterator[None]:
    """Ends, on leaving the block, the DataLoader workers started in it. A loader whose iteration
    an error stopped (a damaged image) stays referenced from the error's frames until the garbage
    collector frees it, and its persistent workers live on; at the interpreter's exit
    multiprocessing would end them with SIGTERM, which they ignore (above), and wait for them
    forever. Collected here, the loaders shut their workers down as torch does; a daemonic process
    the block started that is still alive after that (only DataLoader workers are) is killed."""
    before = set(multiprocessing.active_children())
    try:
        yield
    finally:
        gc.collect()
        # Loaders still referenced (a traceback kept somewhere): shut down as Lightning's own
        # teardown does (torch has no public call), which also unregisters their workers from
        # torch's SIGCHLD check, so that none of the kills below reads as a worker that crashed.
        for iterator in [o for o in gc.get_objects() if issubclass(type(o), _MultiProcessingDataLoaderIter)]:
            iterator._shutdown_workers()
        for child in multiprocessing.active_children():
            if child.daemon and child not in before:
                child.kill()
                child.join(timeout=10)


def error_message(error: BaseException) -> str:
    """``str(error)``, less the worker's traceback torch writes into the message of an error it
    raises again in the main process ("Caught DataCorruptError in DataLoader worker process 0.
    Original Traceback …"): the original message, which names the file."""
    text = str(error)
    if WORKER_TRACEBACK not in text:
        return text
    tail = text.split(WORKER_TRACEBACK, 1)[1]
    marker = f"{type(error).__name__}: "
    at = tail.rfind(marker)
    return tail[at + len(marker) :].strip() if at >= 0 else tail.strip().splitlines()[-1]
