"""CIFAR-10 and CIFAR-100 from their python pickles, read by an unpickler that runs no code.

``pickle.load`` calls whatever a file names (``os.system`` as easily as ``numpy.ndarray``), so a
data file could run code. ``CifarUnpickler`` resolves only the globals a CIFAR batch needs to
rebuild its numpy arrays (the array reconstructor, ``ndarray`` and ``dtype``); any other name
refuses the file with a ``DataCorruptError`` that names it, before anything is called.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch
from numpy._core import multiarray, numeric
from torch import Tensor

from raft_lightning.data.sources import DataCorruptError, FileSource, Split

# (module, name) → the object, for the names a CIFAR pickle may hold. The original files were
# written by Python 2 with numpy 1 ("numpy.core"); numpy 2 writes "numpy._core", and protocol 5
# rebuilds arrays with _frombuffer. The objects come from numpy._core (private, but where numpy 2
# keeps them), never imported by the name a file gives.
ALLOWED_GLOBALS = {
    **{(f"numpy.{core}.multiarray", "_reconstruct"): multiarray._reconstruct for core in ("core", "_core")},
    **{(f"numpy.{core}.numeric", "_frombuffer"): numeric._frombuffer for core in ("core", "_core")},
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class UnsafePickleError(pickle.UnpicklingError):
    """The file names a global outside ``ALLOWED_GLOBALS``: it is not loaded."""


class CifarUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` whose ``find_class`` allows only numpy's array reconstruction."""

    def find_class(self, module: str, name: str) -> object:
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise UnsafePickleError(f"{module}.{name}") from None


def safe_load(path: Path) -> object:
    """The pickled object in ``path``, unpickled with ``CifarUnpickler`` (latin1: Python 2's str)."""
    with open(path, "rb") as f:
        return CifarUnpickler(f, encoding="latin1").load()


def read_cifar_batch(path: Path, label_key: str, expected: str) -> tuple[Tensor, Tensor]:
    """Rows of 3072 bytes (R, G and B planes of 32×32) and their labels, from one python batch."""
    try:
        batch = safe_load(path)
        data = np.asarray(batch["data"], dtype=np.uint8)
        labels = np.asarray(batch[label_key], dtype=np.int64)
        if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
            raise ValueError(f"data of shape {data.shape} with {len(labels)} labels")
    except UnsafePickleError as e:
        raise DataCorruptError(
            f"{path}: refused, it asks to run {e} while unpickling, and {expected} needs only numpy's "
            "array reconstruction (a data file must not run code); replace it with the original file"
        ) from None
    except Exception as e:  # truncated, not a pickle, other keys: each raises its own kind
        raise DataCorruptError(f"{path}: damaged or not {expected} ({type(e).__name__}: {e})") from e
    return torch.from_numpy(data.copy()), torch.from_numpy(labels)


def _split(folder: Path, names: list[str], label_key: str, expected: str) -> Split:
    parts = [read_cifar_batch(folder / name, label_key, expected) for name in names]
    images = torch.cat([p[0] for p in parts]).reshape(-1, 3, 32, 32)  # rows are (R, G, B) planes
    return images, torch.cat([p[1] for p in parts])


def load_cifar10(root: str | Path) -> tuple[Split, Split]:
    """The python pickles of cifar-10-batches-py, read here (not by torchvision's class, whose
    error for a damaged file suggests a download and names no file)."""
    folder = Path(root) / "cifar-10-batches-py"
    expected = "a CIFAR-10 python batch (a pickled dict with 10000 'data' rows of 3072 bytes and 'labels')"
    train = _split(folder, [f"data_batch_{i}" for i in range(1, 6)], "labels", expected)
    return train, _split(folder, ["test_batch"], "labels", expected)


def load_cifar100(root: str | Path) -> tuple[Split, Split]:
    """cifar-100-python/train and test: the 100 fine labels (the 20 coarse ones are not used)."""
    folder = Path(root) / "cifar-100-python"
    expected = "a CIFAR-100 python batch (a pickled dict with 'data' rows of 3072 bytes and 'fine_labels')"
    return _split(folder, ["train"], "fine_labels", expected), _split(folder, ["test"], "fine_labels", expected)


CIFAR10 = FileSource(
    name="CIFAR-10",
    train_images=50_000,
    test_images=10_000,
    num_classes=10,
    mean=(0.4914, 0.4822, 0.4465),
    std=(0.2470, 0.2435, 0.2616),
    files=tuple(
        f"cifar-10-batches-py/{name}"
        for name in ("batches.meta", *(f"data_batch_{i}" for i in range(1, 6)), "test_batch")
    ),
    expected="cifar-10-batches-py/ with data_batch_1..5, test_batch, batches.meta",
    hint=(
        ". Nothing is downloaded: unpack https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz "
        "into that folder, or set data.root (or RAFT_DATA_DIR) to the folder that holds cifar-10-batches-py"
    ),
    loader=load_cifar10,
)

CIFAR100 = FileSource(
    name="CIFAR-100",
    train_images=50_000,
    test_images=10_000,
    num_classes=100,
    # Per-channel statistics of the 50 000 training images, as commonly used for CIFAR-100.
    mean=(0.5071, 0.4865, 0.4409),
    std=(0.2673, 0.2564, 0.2762),
    files=tuple(f"cifar-100-python/{name}" for name in ("train", "test", "meta")),
    expected="cifar-100-python/ with train, test, meta",
    hint=(
        ". Nothing is downloaded: unpack https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz "
        "into that folder, or set data.root (or RAFT_DATA_DIR) to the folder that holds cifar-100-python"
    ),
    loader=load_cifar100,
)
