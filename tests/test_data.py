from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from raft_lightning.data import CIFAR10DataModule, DataNotFoundError, FashionMNISTDataModule, SyntheticDataModule
from raft_lightning.data.augment.per_sample import blur_kernel_size, byol_views
from raft_lightning.data.sampling import EpochSampler, sample_seed
from raft_lightning.data.sources import _read_idx, load_fashion_mnist, make_synthetic, subset
from raft_lightning.data.views import TwoViews
from tests.conftest import CONF, FASHION_MNIST

AUGMENT = OmegaConf.to_container(OmegaConf.load(CONF / "data" / "augment" / "byol.yaml"))


def test_sampler_order_depends_on_seed_and_epoch_only():
    a, b = EpochSampler(50, seed=1), EpochSampler(50, seed=1)
    assert list(a) == list(b)
    first = [i for _, i in a]
    a.set_epoch(1)
    assert [i for _, i in a] != first and sorted(i for _, i in a) == list(range(50))
    assert all(epoch == 1 for epoch, _ in a)
    assert [i for _, i in EpochSampler(50, seed=2)] != first


def test_sampler_shards_disjointly_over_ranks():
    shards = [[i for _, i in EpochSampler(10, seed=0, rank=r, world_size=3)] for r in range(3)]
    assert all(len(s) == 3 for s in shards)
    assert len(set(sum(shards, []))) == 9


def test_views_are_a_function_of_seed_epoch_and_index():
    images, labels = make_synthetic(2, 8, 16, seed=0, split=0)
    views = byol_views(16, (0.5,) * 3, (0.25,) * 3, **AUGMENT)
    ds = TwoViews((images, labels), views, seed=7)
    torch.manual_seed(123)
    x1, x2, y = ds[(0, 3)]
    torch.manual_seed(456)  # the global RNG must not matter
    again = ds[(0, 3)]
    assert torch.equal(x1, again[0]) and torch.equal(x2, again[1])
    assert not torch.equal(x1, x2)
    assert not torch.equal(x1, ds[(1, 3)][0])  # another epoch, other views
    assert not torch.equal(x1, TwoViews((images, labels), views, seed=8)[(0, 3)][0])
    assert x1.dtype == torch.float32 and x1.shape == (3, 16, 16)


def test_sample_seed_mixes_its_keys():
    seeds = {sample_seed(s, e, i) for s in range(3) for e in range(3) for i in range(100)}
    assert len(seeds) == 900 and all(0 <= s < 2**63 for s in seeds)


def test_blur_kernel_is_odd_and_about_ten_percent():
    assert blur_kernel_size(224, 0.1) == 23 and blur_kernel_size(96, 0.1) == 9 and blur_kernel_size(16, 0.1) == 3


def test_synthetic_classes_are_shared_between_splits_and_deterministic():
    train, test = make_synthetic(4, 64, 16, 0, split=0), make_synthetic(4, 64, 16, 0, split=1)
    assert torch.equal(train[0], make_synthetic(4, 64, 16, 0, split=0)[0])
    assert not torch.equal(train[0], test[0])
    # Nearest class mean on the train split classifies the test split well above chance.
    means = torch.stack([train[0][train[1] == c].float().mean(0) for c in range(4)])
    dist = ((test[0].float()[:, None] - means[None]) ** 2).flatten(2).sum(-1)
    assert (dist.argmin(1) == test[1]).float().mean() > 0.6


def test_subset_is_independent_of_the_run_seed():
    split = (torch.zeros(100, 3, 2, 2, dtype=torch.uint8), torch.arange(100))
    assert torch.equal(subset(split, 10, seed=0)[1], subset(split, 10, seed=0)[1])
    assert len(subset(split, 10, seed=0)[1]) == 10 and subset(split, None, seed=0) is split


def test_datamodule_batches(tmp_path):
    dm = SyntheticDataModule(augment=AUGMENT, train_size=64, val_size=32, batch_size=16, image_size=16)
    dm.setup("fit")
    x1, x2, y = next(iter(dm.train_dataloader()))
    assert x1.shape == x2.shape == (16, 3, 16, 16) and y.shape == (16,)
    assert len(dm.train_dataloader()) == 4
    x, y = next(iter(dm.val_dataloader()))
    assert x.shape == (16, 3, 16, 16)


def test_too_little_data_for_one_batch_is_named():
    dm = SyntheticDataModule(augment=AUGMENT, train_size=8, batch_size=16)
    dm.setup("fit")
    with pytest.raises(ValueError, match="8 training images per device are fewer than one batch of 16"):
        dm.train_dataloader()


def test_missing_cifar10_names_the_folder_and_the_files(tmp_path):
    errors = CIFAR10DataModule.config_errors(root=str(tmp_path))
    assert len(errors) == 1
    assert str(tmp_path) in errors[0] and "cifar-10-batches-py/" in errors[0] and "data_batch_1..5" in errors[0]
    with pytest.raises(DataNotFoundError, match="CIFAR-10 not found"):
        CIFAR10DataModule(augment=AUGMENT, root=str(tmp_path)).setup("fit")


def _write_idx(path: Path, array: np.ndarray) -> None:
    header = b"\x00\x00\x08" + bytes([array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_idx_reader_and_fashion_mnist_layout(tmp_path):
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 12), ("t10k", 5)):
        _write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        _write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", rng.integers(0, 10, (n,)))
    assert _read_idx(tmp_path / "t10k-labels-idx1-ubyte.gz").shape == (5,)
    (train_x, train_y), (test_x, _) = load_fashion_mnist(tmp_path)
    assert train_x.shape == (12, 3, 28, 28) and train_x.dtype == torch.uint8 and train_y.dtype == torch.int64
    assert torch.equal(train_x[:, 0], train_x[:, 2])  # grey copied to 3 channels
    assert test_x.shape == (5, 3, 28, 28)
    assert FashionMNISTDataModule.config_errors(root=str(tmp_path)) == []


@pytest.mark.skipif(not FASHION_MNIST.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_real_fashion_mnist():
    dm = FashionMNISTDataModule(
        augment=AUGMENT, root=str(FASHION_MNIST), train_subset=1000, val_subset=500, subset_seed=0
    )
    dm.setup("fit")
    assert len(dm.train_set) == 1000 and len(dm.val_set) == 500
    assert sorted(dm.train_set.labels.unique().tolist()) == list(range(10))
