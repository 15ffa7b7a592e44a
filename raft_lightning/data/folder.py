"""torchvision's ImageFolder layout, listed and checked: which image files, which classes, and
which images are held out for validation. Nothing here decodes an image (``lazy`` does).

Two layouts (docs/your-data.md):

* ``DIR/train/<class>/<image>`` and ``DIR/val/<class>/<image>``: the split is the folders'. A
  root holding both ``train/`` and ``val/`` is read this way.
* ``DIR/<class>/<image>``: ``val_fraction`` of the images are held out for validation, drawn by
  ``split_seed`` alone, so every run seed trains on the same images.

Classes are the class folders' names, sorted; their index is the label. Images may sit in
sub-folders of a class folder; names starting with a dot are skipped, as are files whose
extension is not an image's (``lazy.IMAGE_EXTENSIONS``). Every problem is one ``FolderError``
line, ``root=...: what was found (what is allowed)``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from raft_lightning.data.lazy import IMAGE_EXTENSIONS
from raft_lightning.data.sources import DataNotFoundError

LAYOUTS = "DIR/<class>/<image>, or DIR/train/<class>/<image> and DIR/val/<class>/<image>"


class FolderError(DataNotFoundError):
    """The root is not an image folder of either layout; the message says what was found."""


@dataclass(frozen=True)
class FolderSplit:
    """The files (relative to ``root``) and labels of each split."""

    root: Path
    classes: tuple[str, ...]
    train_files: tuple[str, ...]
    train_labels: tuple[int, ...]
    val_files: tuple[str, ...]
    val_labels: tuple[int, ...]
    layout: str  # "train/val" (the folders' split) or "class folders" (split by val_fraction)


def _visible_dirs(folder: Path) -> list[str]:
    return sorted(e.name for e in os.scandir(folder) if e.is_dir() and not e.name.startswith("."))


def class_folders(root: Any) -> tuple[Path, tuple[str, ...], str]:
    """(the folder holding the class folders, their names, the layout), without listing images."""
    if root is None or not str(root).strip():  # '' would be read as the current folder
        raise FolderError(f"root={root!r}: set data.root to your image folder ({LAYOUTS})")
    base = Path(root)
    if not base.is_dir():
        raise FolderError(f"root={str(root)!r}: no such folder (expected {LAYOUTS})")
    names = _visible_dirs(base)
    layout = "train/val" if {"train", "val"} <= set(names) else "class folders"
    if layout == "train/val":
        names = _visible_dirs(base / "train")
    if not names:
        where = f"{root}/train" if layout == "train/val" else str(root)
        raise FolderError(f"root={str(root)!r}: no class folders in {where} (expected {LAYOUTS})")
    if len(names) < 2:
        raise FolderError(
            f"root={str(root)!r}: one class folder ({names[0]}), and classification needs at least 2 "
            f"(expected {LAYOUTS}; a root needs both train/ and val/ to be read as the split layout)"
        )
    return (base / "train" if layout == "train/val" else base), tuple(names), layout


def count_classes(root: Any) -> int | None:
    """The number of class folders under ``root``, or None where it is not an image folder (the
    run's validation then says why): the ``${folder_classes:...}`` resolver of image_folder.yaml."""
    try:
        return len(class_folders(root)[1])
    except (FolderError, OSError):
        return None


def _images(folder: Path) -> tuple[list[str], list[str]]:
    """Image files under ``folder`` (sub-folders and linked folders too), sorted, relative to
    ``folder``, each folder's files before its sub-folders'; and what is there but cannot be
    read: an image name that is a link to nothing or not a regular file, a folder that cannot be
    opened, a link back to a folder it is in (followed, it would list the same images again and
    again, other classes' under this one)."""
    found: list[str] = []
    problems: list[str] = []

    def walk(directory: str, rel: str, chain: frozenset[str]) -> None:
        try:
            with os.scandir(directory) as listing:
                entries = sorted((e for e in listing if not e.name.startswith(".")), key=lambda e: e.name)
        except OSError as e:
            problems.append(f"{rel or '.'}/ (cannot be opened: {e.strerror})")
            return
        is_dir = [_is(e.is_dir) for e in entries]
        dirs = [e for e, d in zip(entries, is_dir, strict=True) if d]
        for entry in (e for e, d in zip(entries, is_dir, strict=True) if not d):
            if not entry.name.lower().endswith(IMAGE_EXTENSIONS):
                continue
            path = os.path.join(rel, entry.name)
            if _is(entry.is_file):
                found.append(path)
            else:
                problems.append(f"{path} ({'a link to nothing' if entry.is_symlink() else 'not a regular file'})")
        here = os.path.realpath(directory)
        for entry in dirs:
            real, path = os.path.realpath(entry.path), os.path.join(rel, entry.name)
            if real in chain or here == real or here.startswith(real.rstrip(os.sep) + os.sep):
                problems.append(f"{path}/ (a link back to a folder it is in)")
            else:
                walk(entry.path, path, chain | {real})

    walk(str(folder), "", frozenset({os.path.realpath(folder)}))
    return found, problems


def _is(test: Any) -> bool:
    """``DirEntry.is_dir``/``is_file`` (cached, following links), False where the entry cannot
    be examined."""
    try:
        return bool(test())
    except OSError:
        return False


def _list(base: Path, prefix: str, classes: tuple[str, ...]) -> tuple[list[str], list[int], list[str], list[str]]:
    """Files (relative to the root) and labels of ``classes`` under ``base``, the class folders
    that hold no image, and what cannot be read there (relative to the root)."""
    files, labels, empty, unreadable = [], [], [], []
    for label, name in enumerate(classes):
        found, problems = _images(base / name)
        if not found:
            empty.append(f"{prefix}{name}")
        files += [os.path.join(prefix, name, f) for f in found]
        labels += [label] * len(found)
        unreadable += [os.path.join(prefix, name, p) for p in problems]
    return files, labels, empty, unreadable


def read_folder(root: Any, val_fraction: float, split_seed: int) -> FolderSplit:
    """Every image file under ``root`` with its label, split into training and validation."""
    base, classes, layout = class_folders(root)
    if layout == "train/val":
        val_classes = tuple(_visible_dirs(Path(root) / "val"))
        if val_classes != classes:
            only_train = ", ".join(sorted(set(classes) - set(val_classes))) or "none"
            only_val = ", ".join(sorted(set(val_classes) - set(classes))) or "none"
            raise FolderError(
                f"root={str(root)!r}: train/ and val/ hold different classes (expected the same class "
                f"folders in both; only in train/: {only_train}; only in val/: {only_val})"
            )
        train_files, train_labels, empty, unreadable = _list(base, "train/", classes)
        val_files, val_labels, empty_val, unreadable_val = _list(Path(root) / "val", "val/", classes)
        empty, unreadable = empty + empty_val, unreadable + unreadable_val
    else:
        files, labels, empty, unreadable = _list(base, "", classes)
    if unreadable:
        shown = "; ".join(unreadable[:3]) + (f"; and {len(unreadable) - 3} more" if len(unreadable) > 3 else "")
        raise FolderError(
            f"root={str(root)!r}: {len(unreadable)} {'entry' if len(unreadable) == 1 else 'entries'} cannot be "
            f"read: {shown} (expected image files and folders of them)"
        )
    if empty:
        raise FolderError(
            f"root={str(root)!r}: class folders without images: {', '.join(empty)} "
            f"(expected image files in each: {', '.join(IMAGE_EXTENSIONS)})"
        )
    if layout == "class folders":
        if len(files) < 2:
            raise FolderError(f"root={str(root)!r}: 1 image, and the split needs 2 (1 to train on, 1 to validate)")
        train, val = split_rows(len(files), val_fraction, split_seed)
        train_files, train_labels = [files[i] for i in train], [labels[i] for i in train]
        val_files, val_labels = [files[i] for i in val], [labels[i] for i in val]
    return FolderSplit(
        Path(root), classes, tuple(train_files), tuple(train_labels), tuple(val_files), tuple(val_labels), layout
    )


def split_rows(count: int, val_fraction: float, split_seed: int) -> tuple[list[int], list[int]]:
    """(training rows, validation rows), each sorted: ``val_fraction`` of ``count`` (at least 1,
    at most count − 1) drawn without replacement by ``split_seed``, whatever the run's seed."""
    held_out = min(count - 1, max(1, round(count * val_fraction)))
    order = torch.randperm(count, generator=torch.Generator().manual_seed(split_seed))
    return sorted(order[held_out:].tolist()), sorted(order[:held_out].tolist())


def fraction_errors(val_fraction: Any) -> list[str]:
    ok = isinstance(val_fraction, (int, float)) and not isinstance(val_fraction, bool) and 0 < val_fraction < 1
    if ok:
        return []
    return [
        f"val_fraction={val_fraction!r}: must be a number strictly between 0 and 1 "
        "(the share of DIR/<class>/* images held out for validation)"
    ]
