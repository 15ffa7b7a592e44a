"""What a run folder holds, by name, and the one way anything is written there. Each file has one
writer, named here; every reader goes through ``raft_lightning.readers``, which distrusts what it reads.

    summary.json            run.record.RunRecord           the run's record (schema: raft_lightning.summary)
    config.yaml             run.record.RunRecord           the resolved config, paths inside the folder as <run_dir>/…
    metrics.csv             callbacks.EpochMetrics         one row per completed epoch
    steps.csv               callbacks.CollapseMonitors     step rows: every step early, then every log_every_n_steps
    spectra.csv             callbacks.CollapseMonitors     singular values of the held-out features, per monitored epoch
    embeddings.pt           run.record.RunRecord           test projections for the report's figures
    checkpoints/last.ckpt   Lightning, through run.checkpoints.AtomicCheckpointIO
                            (last.prev.ckpt: the one before; a finished run drops it, record.keep_previous)
    traceback.txt           run.record.RunRecord           where a failed run raised
    backbone.pt             export.cli (raft-export)       the online backbone, for use elsewhere (docs/export.md)
    wandb_id                run.tracking.ensure_wandb_id   the W&B run id, made once per run
    .hydra/                 run.record.save_hydra_files    Hydra's config.yaml, hydra.yaml, overrides.yaml
    .lock                   lock.FolderLock                who holds the folder (flock)

and in a sweep's folder Hydra's ``multirun.yaml``, from which ``readers.sweep_jobs`` expands the runs.

Every write is atomic (``write_atomically``): the bytes go to a temp file beside the target, are
flushed to disk, and replace it in one rename, so a reader never sees half a file, a crash never
leaves one, and a full disk leaves the previous version in place. The temp file is always a new
one (``new_temp_beside``): a name planted in a folder someone else made, say a link to a file of
yours, is never written through.
"""

from __future__ import annotations

import errno
import io
import os
import secrets
import signal
import threading
from pathlib import Path
from typing import Any, BinaryIO

SUMMARY_FILE = "summary.json"
CONFIG_FILE = "config.yaml"  # the run's config, resolved
METRICS_FILE = "metrics.csv"
STEPS_FILE = "steps.csv"  # step,epoch,<series…>: loss, L_align, L_uniform, the predictor's measures
SPECTRA_FILE = "spectra.csv"  # epoch,network,layer,index,singular_value
EMBEDDINGS_FILE = "embeddings.pt"
BACKBONE_FILE = "backbone.pt"  # raft-export's default output
BACKBONE_FORMAT, BACKBONE_VERSION = "raft-lightning-backbone", 1  # what an exported file says it is (readers.backbone)
TRACEBACK_FILE = "traceback.txt"
WANDB_ID_FILE = "wandb_id"
DATA_FILES = "data_files"  # summary.json's record of an image folder, and the key its checkpoint copy has
LOCK_FILE = ".lock"
TEMP_SUFFIX = ".tmp"  # new_temp_beside's files: <name>.<pid>.<random>.tmp
HYDRA_DIR = ".hydra"  # written by the run under its lock, not by Hydra (conf/hydra/default.yaml)
DAMAGED_SUFFIX = ".damaged"  # a damaged file set aside, never deleted
RUN_DIR_MARK = "<run_dir>"  # config.yaml's stand-in for the folder it lies in: the folder can move
NAME_MAX = 255  # bytes in one path component (Linux): longer names fail with ENAMETOOLONG
CHECKPOINT_CONFIG = "raft_config"  # the key under which a checkpoint carries its run's portable config


class NotWritten(OSError):
    """A write failed (full disk, read-only folder, permissions); the previous file is intact."""

    def __str__(self) -> str:  # the one line (names the file), without OSError's "[Errno n]"
        return self.strerror or super().__str__()


def _reason(e: OSError) -> str:
    if e.errno == errno.ENOSPC:
        return "no space left on the device"
    if e.errno == errno.EROFS:
        return "the file system is read-only"
    if e.errno == errno.EDQUOT:
        return "disk quota exceeded"
    return e.strerror or str(e)


def new_temp_beside(path: Path) -> tuple[BinaryIO, Path]:
    """A file that did not exist, ``<name>.<pid>.<random>.tmp`` beside ``path``, open for writing.
    Created exclusively (``O_EXCL``: never an existing file, never through a symbolic link), so
    that a run folder made by someone else cannot turn a write of ours into a write elsewhere."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    for _ in range(100):
        tmp = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}{TEMP_SUFFIX}")
        try:
            return os.fdopen(os.open(tmp, flags, 0o666), "wb"), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, f"no unused temp file name beside {path}")


def _synced_temp(path: Path, raw: bytes) -> Path:
    """``raw`` in a new temp file beside ``path``, on disk (fsync); the temp is removed on failure."""
    f, tmp = new_temp_beside(path)
    try:
        with f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
    except OSError:
        _remove(tmp)
        raise
    return tmp


def _remove(tmp: Path | None) -> None:
    try:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
    except OSError:
        pass


def write_all_or_none(files: dict[Path, str | bytes]) -> None:
    """Several files that belong together (a result and the pages that show it): each written to
    a temp file beside it and checked writable first (an existing file opened for appending, which
    changes nothing: read-only or immutable fails here), then all renamed into place. On a failure
    before the renames nothing is changed; ``NotWritten`` names the file. A rename failing after
    those checks (rare: the folder's permissions changed in between) says which files were replaced."""
    temps: list[tuple[Path, Path]] = []
    try:
        for path, data in files.items():
            path = Path(path)
            try:
                if os.path.lexists(path):
                    os.close(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC))
                temps.append((path, _synced_temp(path, data.encode() if isinstance(data, str) else data)))
            except OSError as e:
                raise NotWritten(e.errno, f"cannot write {path}: {_reason(e)}; nothing was written") from e
        done: list[Path] = []
        # Ctrl-C or a SIGTERM during the renames (microseconds) is noted and handed on after them,
        # so that it never leaves some files new and some old. A Python handler, not a signal mask:
        # the process's other threads (torch's) would take a signal the main thread blocks.
        pending: list[int] = []
        held = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
        main = threading.current_thread() is threading.main_thread()
        before = {s: signal.signal(s, lambda number, frame: pending.append(number)) for s in held} if main else {}
        try:
            for path, tmp in temps:
                try:
                    os.replace(tmp, path)
                except OSError as e:
                    written = ", ".join(str(p) for p in done) or "none"
                    raise NotWritten(e.errno, f"cannot write {path}: {_reason(e)}; already replaced: {written}") from e
                done.append(path)
            temps.clear()
        finally:
            for number, handler in before.items():
                signal.signal(number, handler if handler is not None else signal.SIG_DFL)
            for number in dict.fromkeys(pending):
                signal.raise_signal(number)
    finally:
        for _, tmp in temps:
            _remove(tmp)


def write_atomically(path: Path, data: str | bytes, in_place_when_full: bool = False) -> None:
    """Write ``data`` to a new temp file beside ``path``, fsync it, then rename it over ``path``.

    On failure the temp file is removed, ``path`` keeps its previous content and ``NotWritten``
    names ``path`` and the reason in one line. With ``in_place_when_full`` a full disk makes the
    data overwrite the existing file's own blocks instead (a record small enough to fit where the
    old one was, so that a run on a full disk can still say how it ended); never through a link."""
    path = Path(path)
    raw = data.encode() if isinstance(data, str) else data
    tmp = None
    try:
        tmp = _synced_temp(path, raw)
        os.replace(tmp, path)
    except OSError as e:
        _remove(tmp)
        if in_place_when_full and e.errno in (errno.ENOSPC, errno.EDQUOT) and path.is_file() and not path.is_symlink():
            with os.fdopen(os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC), "r+b") as f:
                f.write(raw)
                f.truncate()
            return
        kept = "; the previous version is kept" if path.is_file() else ""
        raise NotWritten(e.errno, f"cannot write {path}: {_reason(e)}{kept}") from e


def save_tensors(path: Path, obj: Any) -> None:
    """``torch.save`` into memory, then ``write_atomically``: never a half-written tensor file."""
    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    write_atomically(path, buffer.getvalue())


def set_aside(path: Path) -> Path:
    """Rename a damaged file to ``<name>.damaged`` (replacing an older one), so that it is kept for
    a person to look at and no longer read."""
    aside = path.with_name(path.name + DAMAGED_SUFFIX)
    os.replace(path, aside)
    return aside


def previous_of(path: Path) -> Path:
    """``last.ckpt`` → ``last.prev.ckpt``: the checkpoint before the newest (a resume, an
    evaluation and an export fall back to it)."""
    return path.with_name(f"{path.stem}.prev{path.suffix}")
