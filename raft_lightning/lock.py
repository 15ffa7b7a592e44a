"""One writer per folder at a time: ``flock`` on the folder's ``.lock``.

Whatever writes into a run folder (training, the linear evaluation) or a report folder holds its
lock for as long as it writes, so two processes never interleave their files: a linear evaluation
cannot record an accuracy of weights that a resumed training is replacing, and a second sweep
into the same folder is told who holds it. The kernel releases the lock when its process dies,
so a killed run never leaves it stuck.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
from pathlib import Path

from raft_lightning.files import LOCK_FILE
from raft_lightning.readers import printable


class FolderBusy(RuntimeError):
    """Another process holds the folder, or it cannot be written at all: one line says which."""


class FolderLock:
    """``with FolderLock(folder):`` — held by this process until the block ends."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_FILE
        self.file = None

    def __enter__(self) -> FolderLock:
        try:  # O_NOFOLLOW: a .lock planted as a link to another file must not have it truncated
            self.file = os.fdopen(
                os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644), "r+"
            )
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise FolderBusy(
                    f"{self.path} is a symbolic link, not the folder's own lock: remove it (nothing else "
                    "is written through it)"
                ) from None
            why = {errno.EROFS: "it is on a read-only file system", errno.EACCES: "permission denied"}
            raise FolderBusy(
                f"{self.folder} cannot be written ({why.get(e.errno, e.strerror)}): "
                "copy the folder somewhere writable, or choose a new one"
            ) from None
        try:
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.file.seek(0)
            holder = printable(self.file.read(200).strip()) or "another process"
            self.file.close()
            raise FolderBusy(f"{self.folder} is in use by {holder}: wait for it, or choose a new folder") from None
        try:  # who holds it, for the message above; on a full disk the lock holds without it
            fd = self.file.fileno()  # unbuffered: a failed write leaves nothing for close() to raise later
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}".encode(), 0)
        except OSError:
            pass
        return self

    def __exit__(self, *exc: object) -> None:
        self.file.close()  # closing releases the lock
