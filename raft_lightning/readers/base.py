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


def first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:200]}" if text else type(e).__name__


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
