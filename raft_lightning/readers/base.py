"""What every reader shares: ``DamagedFile`` (one line: the file, what is wrong, what was
expected), bounded text reads, and text made safe to print."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

MAX_TEXT_BYTES = 64 << 20  # a summary, config or CSV larger than this is not one we wrote
WANDB_ID = re.compile(r"[a-z0-9]{1,64}")


class DamagedFile(ValueError):
    """A file of a run folder that cannot be used: names the file, what is wrong, what was expected."""

    def __init__(self, path: Path | str, problem: str, expected: str) -> None:
        self.path, self.problem, self.expected = Path(path), problem, expected
        super().__init__(f"{path}: {problem}; expected {expected}")


def own_file(path: Path, run_dir: Path | str, expected: str) -> None:
    """A file that is a link out of its run folder is not the folder's own: refused, never read
    (a folder from elsewhere could make a report count another run, or show any file as its own).
    A linked folder (checkpoints/ on scratch space) is the user's choice and is followed."""
    if path.is_symlink():
        target = path.resolve()
        if not target.is_relative_to(Path(run_dir).resolve()):
            raise DamagedFile(path, f"a link to {printable(str(target))}, outside the run folder", expected)


def present(path: Path, run_dir: Path | str, expected: str) -> bool:
    """Whether the folder holds ``path`` to be read: False where nothing is there; ``DamagedFile``
    where something is but is not a regular file of the folder's own (a folder, a pipe or a device,
    which could block the reader; a broken link; a link out of the folder, ``own_file``)."""
    if not path.is_symlink() and not path.exists():
        return False
    own_file(path, run_dir, expected)
    if not path.is_file():
        kind = (
            "a broken link"
            if path.is_symlink() and not path.exists()
            else "a folder"
            if path.is_dir()
            else "not a regular file"
        )
        raise DamagedFile(path, kind, expected)
    return True


def first_line(e: BaseException, limit: int = 200) -> str:
    """An error's type and first line, a long one shortened at a word's end with an ellipsis."""
    text = str(e).strip().splitlines()
    if not text:
        return type(e).__name__
    line = text[0]
    if len(line) > limit:
        cut = line[: limit + 1].rsplit(" ", 1)[0] if " " in line[:limit] else line[:limit]
        line = cut.rstrip(" ,;:") + "…"
    return f"{type(e).__name__}: {line}"


def text_of(path: Path, expected: str) -> str:
    try:
        if path.stat().st_size > MAX_TEXT_BYTES:
            raise DamagedFile(path, f"{path.stat().st_size} bytes", expected + f" (under {MAX_TEXT_BYTES >> 20} MB)")
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise DamagedFile(path, f"not UTF-8 text ({e.reason} at byte {e.start})", expected) from None
    except OSError as e:
        raise DamagedFile(path, f"cannot be read ({e.strerror or e})", expected) from None


def short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def printable(text: str, limit: int = 200) -> str:
    """Text from a file, safe to print: no control characters (a terminal would obey them)."""
    cleaned = "".join(c if c.isprintable() else "?" for c in text)
    return cleaned[:limit]


def finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
