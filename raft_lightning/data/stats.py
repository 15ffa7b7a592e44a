"""Per-channel mean and std of an image folder's training split, computed once and cached.

Normalisation needs the statistics before the first view is built. Where ``data.mean`` /
``data.std`` are null they are computed over the training images as the run sees them (decoded,
resized to ``image_size``, in [0, 1]) and written to a small JSON file under
``$XDG_CACHE_HOME/raft-lightning/stats/`` (``~/.cache/raft-lightning/stats/`` without it), never
into the data folder, which may be read-only. The file's name is a hash of the folder's resolved
path, the image size, the decoding (``DECODING``) and every training file's name, size and
modification time: adding, removing or rewriting an image, or another split, makes a new key,
and the statistics are computed again. A cache file that cannot be read or does not match its
key is ignored; one that cannot be written only costs the computation next time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from raft_lightning.data.lazy import FolderImages, LazyImages
from raft_lightning.data.workers import worker_count

log = logging.getLogger(__name__)

DECODING = "rgb, shorter side bicubic to image_size, centre square (lazy.decode) v1"
Stats = tuple[tuple[float, float, float], tuple[float, float, float]]  # (mean, std) per channel


def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "raft-lightning" / "stats"


def stats_key(images: FolderImages) -> dict[str, Any]:
    """What the statistics depend on; its hash names the cache file."""
    files = hashlib.sha256()
    for row in range(len(images)):
        st = os.stat(images.path(row))
        files.update(b"%s\t%d\t%d\n" % (images.files[row], st.st_size, st.st_mtime_ns))
    return {
        "root": os.path.realpath(os.fsdecode(images.root)),
        "image_size": images.size,
        "decoding": DECODING,
        "images": len(images),
        "files_sha256": files.hexdigest(),
    }


def cache_path(key: dict[str, Any]) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
    return cache_dir() / f"{digest[:32]}.json"


def folder_statistics(images: FolderImages, num_workers: int = 0) -> Stats:
    """The cached statistics of ``images`` if its key has some, else computed and cached."""
    key = stats_key(images)
    path = cache_path(key)
    cached = read_cached(path, key)
    if cached is not None:
        return cached
    log.info("channel statistics of %d training images in %s: computing, cached in %s", len(images), key["root"], path)
    stats = compute_statistics(images, num_workers)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp", delete=False) as f:
            json.dump({"key": key, "mean": stats[0], "std": stats[1]}, f, indent=1)
        os.replace(f.name, path)  # atomic: a reader never sees half a file
    except OSError as e:
        log.warning("could not cache the channel statistics in %s (%s): they are computed again next time", path, e)
    return stats


def read_cached(path: Path, key: dict[str, Any]) -> Stats | None:
    """The statistics in ``path`` if it is a well-formed cache file for ``key``, else None."""
    try:
        record = json.loads(path.read_text())
        mean, std = tuple(map(float, record["mean"])), tuple(map(float, record["std"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    ok = record.get("key") == key and len(mean) == len(std) == 3
    if not ok or not all(math.isfinite(v) for v in mean + std) or min(std) <= 0:
        return None
    return mean, std


def _batch(images: Any) -> Any:
    return images


@torch.no_grad()
def compute_statistics(images: LazyImages, num_workers: int = 0, batch_size: int = 256) -> Stats:
    """Mean and (population) std of each channel over every pixel of ``images``, in [0, 1]."""
    total = torch.zeros(3, dtype=torch.float64)
    squares = torch.zeros(3, dtype=torch.float64)
    pixels = 0
    # Its own generator: a DataLoader otherwise draws its workers' base seed from the global one, so
    # a run computing the statistics (cold cache) would train on other random numbers than one
    # reading them from the cache, under the same seed.
    loader = DataLoader(
        images,
        batch_size=batch_size,
        num_workers=worker_count(num_workers),
        collate_fn=_batch,
        generator=torch.Generator(),
    )
    for batch in loader:  # (B, 3, H, W) uint8
        x = batch.to(torch.float64).div_(255)
        total += x.sum((0, 2, 3))
        squares += x.square().sum((0, 2, 3))
        pixels += x.shape[0] * x.shape[2] * x.shape[3]
    mean = total / pixels
    # A constant channel has std 0: floored, so normalising it gives 0 instead of NaN.
    std = (squares / pixels - mean.square()).clamp_min(0).sqrt().clamp_min(1e-6)
    return tuple(mean.tolist()), tuple(std.tolist())
