"""Your data (docs/your-data.md): image folders, CIFAR-100, STL-10, and CIFAR pickles that
cannot run code. Every file here is made by the test: small images of mixed sizes, modes and
formats, and tiny CIFAR-100 pickles and STL-10 binaries in the standard formats."""

from __future__ import annotations

import json
import multiprocessing
import os
import pickle
import random
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

import raft_lightning.data.stats as stats
from raft_lightning.callbacks.probe import OnlineProbe
from raft_lightning.contracts import UNLABELLED
from raft_lightning.data import (
    CIFAR100DataModule,
    DataCorruptError,
    DataNotFoundError,
    ImageFolderDataModule,
    STL10DataModule,
)
from raft_lightning.data.cifar import load_cifar10, load_cifar100
from raft_lightning.data.folder import read_folder, split_rows
from raft_lightning.data.image_folder import DataChanged
from raft_lightning.data.lazy import IMAGE_EXTENSIONS, FolderImages, LazyImages
from raft_lightning.data.workers import error_message, leave_signals_to_the_main_process, workers_ended
from raft_lightning.run.validation import config_errors
from tests.conftest import compose_run, run_cli
from tests.test_data import AUGMENT

MODES = ("RGB", "L", "RGBA", "P")  # colour, grey (as JPEG), with alpha, palette
SMOKE_DATA = ("experiment=smoke", "data.batch_size=16")


def write_images(folder: Path, count: int, seed: int) -> None:
    """``count`` images of mixed sizes and modes (PNG, and JPEG for grey), plus files to skip."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        width, height = 12 + 5 * (i % 3), 9 + 4 * (i % 4)
        mode = MODES[i % len(MODES)]
        image = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).convert(mode)
        image.save(folder / f"img{i:02d}.{'jpg' if mode == 'L' else 'png'}")
    (folder / "notes.txt").write_text("not an image: skipped")
    (folder / ".hidden.png").write_bytes(b"skipped too")


def make_folder(root: Path, classes=("cat", "dog", "fox"), per_class: int = 6, split: bool = False) -> Path:
    for k, name in enumerate(classes):
        if split:
            write_images(root / "train" / name, per_class, seed=k)
            write_images(root / "val" / name, 2, seed=100 + k)
        else:
            write_images(root / name, per_class, seed=k)
    return root


def folder_module(root: Path, **kwargs) -> ImageFolderDataModule:
    params = {"augment": AUGMENT, "image_size": 16, "batch_size": 4, **kwargs}
    return ImageFolderDataModule(root=str(root), **params)


@pytest.fixture(autouse=True)
def cache_home(tmp_path, monkeypatch):
    """Statistics are cached under the test's own folder, never the user's."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


# Image folders: layouts, split, decoding, both pipelines.


def test_both_layouts_list_sorted_classes_and_only_images(tmp_path):
    flat = folder_module(make_folder(tmp_path / "flat", classes=("dog", "cat", "fox")), val_fraction=0.25)
    flat.setup("fit")
    assert flat.classes == ("cat", "dog", "fox") and flat.num_classes == 3
    assert len(flat.plain_train_set) + len(flat.plain_val_set) == 18 and len(flat.plain_val_set) == round(18 * 0.25)
    split = folder_module(make_folder(tmp_path / "split", split=True))
    split.setup("fit")
    assert split.classes == ("cat", "dog", "fox") and len(split.train_set) == 18 and len(split.val_set) == 6
    val_files = [split.plain_val_set.images.files[i].decode() for i in range(6)]
    assert val_files[0] == "val/cat/img00.png" and split.plain_val_set.labels.tolist() == [0, 0, 1, 1, 2, 2]


def test_the_split_depends_on_split_seed_only(tmp_path):
    root = make_folder(tmp_path / "images", per_class=10)

    def held_out(**kwargs) -> list[bytes]:
        dm = folder_module(root, mean=[0.5] * 3, std=[0.25] * 3, **kwargs)
        dm.setup("fit")
        return list(dm.plain_val_set.images.files)

    assert held_out(seed=0) == held_out(seed=7) == held_out(seed=3, split_seed=0)
    assert held_out(split_seed=1) != held_out(split_seed=0)


def test_images_decode_to_uint8_squares_of_image_size(tmp_path):
    write_images(tmp_path / "a", 4, seed=0)
    files = [f"a/img{i:02d}.{'jpg' if MODES[i] == 'L' else 'png'}" for i in range(4)]
    images = FolderImages(tmp_path, files, size=16)
    one = images[1]  # grey: three equal channels
    assert one.shape == (3, 16, 16) and one.dtype == torch.uint8 and torch.equal(one[0], one[2])
    batch = images[torch.tensor([3, 0, 2])]
    assert batch.shape == (3, 3, 16, 16) and batch.dtype == torch.uint8 and torch.equal(batch[1], images[0])


def test_the_shorter_side_is_resized_and_the_centre_square_kept(tmp_path):
    """Objects keep their aspect ratio: an 80×20 image of red, green and blue quarters-half-quarter
    becomes its green middle at 10×10 (a squash would show all three)."""
    pixels = np.zeros((20, 80, 3), dtype=np.uint8)
    pixels[:, :20, 0] = pixels[:, 20:60, 1] = pixels[:, 60:, 2] = 255
    Image.fromarray(pixels).save(tmp_path / "wide.png")
    green = torch.zeros(3, 10, 10, dtype=torch.uint8)
    green[1] = 255
    assert torch.equal(FolderImages(tmp_path, ["wide.png"], size=10)[0], green)


@pytest.mark.parametrize("pipeline", ["torchvision", "batched"])
def test_both_pipelines_make_two_reproducible_views(tmp_path, pipeline):
    root = make_folder(tmp_path / "images")

    def first_batch(seed: int, epoch: int = 0) -> tuple[torch.Tensor, ...]:
        dm = folder_module(root, pipeline=pipeline, seed=seed)
        dm.setup("fit")
        loader = dm.train_dataloader()
        loader.sampler.set_epoch(epoch)
        return next(iter(loader))

    x1, x2, y = first_batch(seed=0)
    assert x1.shape == x2.shape == (4, 3, 16, 16) and x1.dtype == torch.float32 and y.shape == (4,)
    assert not torch.equal(x1, x2)
    again = first_batch(seed=0)
    assert all(torch.equal(a, b) for a, b in zip((x1, x2, y), again))
    assert not torch.equal(first_batch(seed=0, epoch=1)[0], x1) and not torch.equal(first_batch(seed=1)[0], x1)


def test_batched_views_off_the_cpu_are_built_from_the_carried_uint8_images(tmp_path):
    """Off the CPU the loader carries decoded uint8 images with their keys; the views built where
    they land are the ones the CPU path builds (the same (seed, epoch, index) draws)."""
    dm = folder_module(make_folder(tmp_path / "images"), pipeline="batched")
    dm.setup("fit")
    x1, x2, y = next(iter(dm.train_dataloader()))
    sampler = dm.train_dataloader().sampler
    dm.train_set.augment = dm.val_set.augment = False
    batch = next(iter(torch.utils.data.DataLoader(dm.train_set, batch_size=4, sampler=sampler, collate_fn=lambda b: b)))
    assert set(batch) == {"epoch", "index", "images", "labels"} and batch["images"].dtype == torch.uint8
    d1, d2, dy = dm.on_after_batch_transfer(batch, 0)
    assert torch.equal(d1, x1) and torch.equal(d2, x2) and torch.equal(dy, y)
    dm.val_set.augment = True
    x, y_val = next(iter(dm.val_dataloader()))
    dm.val_set.augment = False
    carried = dm.val_set.__getitems__(list(range(len(y_val))))
    assert all(torch.equal(a, b) for a, b in zip(dm.on_after_batch_transfer(carried, 0), (x, y_val)))


def test_workers_decode_the_same_batches(tmp_path):
    root = make_folder(tmp_path / "images")
    batches = []
    for workers in (0, 2):
        dm = folder_module(root, num_workers=workers, mean=[0.5] * 3, std=[0.25] * 3)
        dm.setup("fit")
        batches.append((next(iter(dm.train_dataloader())), next(iter(dm.plain_train_dataloader()))))
    (views0, plain0), (views2, plain2) = batches
    assert all(torch.equal(a, b) for a, b in zip((*views0, *plain0), (*views2, *plain2)))


def test_plain_loaders_serve_the_evaluation(tmp_path):
    dm = folder_module(make_folder(tmp_path / "images", split=True))
    dm.setup("fit")
    xs, ys = zip(*dm.plain_train_dataloader())
    assert torch.cat(xs).shape == (18, 3, 16, 16) and torch.cat(ys).tolist() == sorted(torch.cat(ys).tolist())
    x, y = next(iter(dm.plain_val_dataloader()))
    assert x.dtype == torch.float32 and set(y.tolist()) <= {0, 1, 2} and dm.num_classes == 3
    small = folder_module(tmp_path / "images", train_subset=5, mean=[0.5] * 3, std=[0.25] * 3)
    small.setup("fit")
    assert len(small.train_set) == 5 and next(iter(small.plain_train_dataloader()))[0].shape == (4, 3, 16, 16)
    assert isinstance(small.train_set.images, LazyImages)  # the subset is still read on demand


# Normalisation statistics: computed as a direct computation would, cached, invalidated.


@pytest.mark.parametrize("num_workers", [0, 1])
def test_computing_the_statistics_draws_no_random_number_a_cached_read_would_not(tmp_path, cache_home, num_workers):
    """Same seed → same numbers, whether the cache was empty (the first run on a folder) or not."""
    root = make_folder(tmp_path / "images")
    states = []
    for _ in ("cold", "warm"):
        torch.manual_seed(0), np.random.seed(0), random.seed(0)
        folder_module(root, num_workers=num_workers).setup("fit")
        states.append((torch.get_rng_state(), np.random.get_state()[1].tolist(), random.getstate()))
    assert len(list((cache_home / "raft-lightning" / "stats").glob("*.json"))) == 1  # the first computed it
    assert torch.equal(states[0][0], states[1][0]) and states[0][1:] == states[1][1:]


def test_statistics_match_a_direct_computation_and_are_cached(tmp_path, cache_home, monkeypatch):
    root = make_folder(tmp_path / "images")
    calls = []
    compute = stats.compute_statistics
    monkeypatch.setattr(stats, "compute_statistics", lambda *a, **k: calls.append(1) or compute(*a, **k))
    dm = folder_module(root)
    dm.setup("fit")
    pixels = dm.plain_train_set.images[list(range(len(dm.plain_train_set)))].double() / 255  # (N, 3, S, S)
    direct_mean, direct_std = pixels.mean((0, 2, 3)), pixels.std((0, 2, 3), unbiased=False)
    assert torch.allclose(torch.tensor(dm.mean, dtype=torch.float64), direct_mean, atol=1e-9)
    assert torch.allclose(torch.tensor(dm.std, dtype=torch.float64), direct_std, atol=1e-9)
    (cached,) = (cache_home / "raft-lightning" / "stats").glob("*.json")
    assert json.loads(cached.read_text())["key"]["root"] == os.path.realpath(root) and not list(root.rglob("*.json"))

    second = folder_module(root)
    second.setup("fit")
    assert len(calls) == 1 and second.mean == dm.mean  # read from the cache

    changed = root / "cat" / "img00.png"
    Image.new("RGB", (30, 20), (255, 0, 0)).save(changed)
    os.utime(changed, ns=(1, 1))  # another mtime, whatever the file system's clock resolution
    third = folder_module(root)
    third.setup("fit")
    assert len(calls) == 2 and third.mean != dm.mean


def test_configured_statistics_are_used_and_nothing_is_computed(tmp_path, cache_home):
    dm = folder_module(make_folder(tmp_path / "images"), mean=[0.4, 0.5, 0.6], std=[0.2, 0.2, 0.2])
    dm.setup("fit")
    assert dm.mean == (0.4, 0.5, 0.6) and not cache_home.exists()


def test_statistics_set_on_the_command_line_are_taken(tmp_path, cache_home):
    """Hydra hands the datamodule a ListConfig, not a list: `data.mean=[…] data.std=[…]` (the
    documented way to set them) was refused by the constructor after validation had passed."""
    from hydra.utils import instantiate

    root = make_folder(tmp_path / "images", per_class=16)
    cfg = compose_run(
        "experiment=smoke", "data=image_folder", f"data.root={root}", "data.mean=[0.4,0.5,0.6]",
        "data.std=[0.2,0.2,0.2]", run_dir=tmp_path / "run",
    )  # fmt: skip
    assert config_errors(cfg) == []
    dm = instantiate(cfg.data, augment=AUGMENT)
    dm.setup("fit")
    assert dm.mean == (0.4, 0.5, 0.6) and dm.std == (0.2, 0.2, 0.2) and not cache_home.exists()


def test_sixteen_bit_grey_images_are_scaled_to_eight_bits_not_clipped_to_white(tmp_path):
    """Microscopy and medical images come as 16-bit grey PNGs (PIL's I;16): PIL's conversion to RGB
    clips every value above 255, so they all read as white. Scaled over the 16-bit range instead."""
    ramp = (np.arange(16 * 16).reshape(16, 16) * 256).astype(np.uint16)  # 0 … 65280 by rows
    Image.fromarray(ramp).save(tmp_path / "ramp.png")
    assert Image.open(tmp_path / "ramp.png").mode == "I;16"
    image = FolderImages(tmp_path, ["ramp.png"], 16)[0]
    expected = torch.from_numpy(np.rint(ramp / 257).astype(np.uint8))
    assert torch.equal(image[0], expected) and torch.equal(image[1], image[0]) and torch.equal(image[2], image[0])
    Image.fromarray(ramp.astype(np.float32)).save(tmp_path / "float.tif")
    with pytest.raises(DataCorruptError, match="float.tif: .*a 32-bit float image has no known range"):
        FolderImages(tmp_path, ["float.tif"], 16)[0]


class _FailsAt(torch.utils.data.Dataset):
    def __len__(self) -> int:
        return 8

    def __getitem__(self, i: int) -> int:
        if i == 5:
            raise DataCorruptError(f"/data/img{i}.png: cannot be decoded")
        return i


def test_a_stopped_loaders_workers_end_with_the_run_and_its_error_is_one_line():
    """An error in a worker stops the loader while its traceback keeps it referenced, so its
    persistent workers, which ignore the run's signals, outlived the run and multiprocessing's exit
    handler waited for them forever (a damaged image hung the process). ``workers_ended`` ends
    them; ``error_message`` is the worker's own message, without the traceback torch adds."""
    loader = torch.utils.data.DataLoader(
        _FailsAt(), batch_size=2, num_workers=2, persistent_workers=True,
        worker_init_fn=leave_signals_to_the_main_process,
    )  # fmt: skip
    with workers_ended():
        try:
            list(loader)
        except DataCorruptError as e:
            kept = e  # referenced, as a run's record or a library may keep it
    left = multiprocessing.active_children()
    for child in left:  # a broken fix fails here, not by hanging the test session's exit
        child.kill()
    assert left == []
    assert "Traceback" in str(kept) and error_message(kept) == "/data/img5.png: cannot be decoded"


# Every error: one line, key=value, before anything trains.


def _errors(root, **params) -> list[str]:
    return ImageFolderDataModule.config_errors(root=str(root), **{"batch_size": 2, **params})


def test_each_folder_problem_is_one_line_naming_it(tmp_path):
    cases = {}
    cases["missing"] = _errors(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    cases["no classes"] = _errors(tmp_path / "empty")
    make_folder(tmp_path / "hollow")
    for f in (tmp_path / "hollow" / "dog").iterdir():
        f.unlink()
    cases["empty class"] = _errors(tmp_path / "hollow")
    make_folder(tmp_path / "mismatch", split=True)
    (tmp_path / "mismatch" / "val" / "dog").rename(tmp_path / "mismatch" / "val" / "wolf")
    cases["class sets"] = _errors(tmp_path / "mismatch")
    good = make_folder(tmp_path / "good")
    cases["fraction"] = _errors(good, val_fraction=1.5)
    cases["zero"] = _errors(good, val_fraction=0)
    cases["count"] = _errors(good, num_classes=5)
    cases["batch"] = _errors(good, batch_size=64)
    expected = {
        "missing": f"root='{tmp_path / 'nowhere'}': no such folder (expected DIR/<class>/<image>",
        "no classes": f"root='{tmp_path / 'empty'}': no class folders in",
        "empty class": f"root='{tmp_path / 'hollow'}': class folders without images: dog (expected image files",
        "class sets": "train/ and val/ hold different classes (expected the same class folders in both; "
        "only in train/: dog; only in val/: wolf)",
        "fraction": "val_fraction=1.5: must be a number strictly between 0 and 1",
        "zero": "val_fraction=0: must be a number strictly between 0 and 1",
        "count": "num_classes=5: root=",
        "batch": "batch_size=64: more than the 16 training images",
    }
    for case, errors in cases.items():
        assert len(errors) == 1 and expected[case] in errors[0] and "\n" not in errors[0], (case, errors)
    assert "holds 3 class folders (cat, dog, fox)" in cases["count"][0]
    assert _errors(good) == [] and _errors(good, num_classes=3) == []
    with pytest.raises(DataNotFoundError, match="class folders without images: dog"):
        folder_module(tmp_path / "hollow").setup("fit")


def test_links_and_special_files_are_named_and_a_link_loop_is_not_followed(tmp_path):
    """What sits in a class folder but is no image, or would be listed again and again, stops
    the run before it trains, named: a link to nothing, a fifo named like an image, a link back
    to a folder it is in (to the root, to its own class folder, a cycle of two links). A link to
    another class's folder, or to an image, is followed: that is the user's choice."""
    cases = {
        "nothing": ("cat/gone.png", "/nonexistent/gone.png", "cat/gone.png (a link to nothing)"),
        "root": ("cat/up", "..", "cat/up/ (a link back to a folder it is in)"),
        "own class": ("dog/deeper/self", "../../dog", "dog/deeper/self/ (a link back"),
        "cycle": ("cat/to_dog", "../dog", "to_dog/to_cat/ (a link back"),
    }
    for case, (where, target, says) in cases.items():
        root = make_folder(tmp_path / case.replace(" ", "_"), per_class=4)
        (root / where).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, root / where)
        if case == "cycle":
            os.symlink("../cat", root / "dog" / "to_cat")
        errors = _errors(root)
        assert len(errors) == 1 and says in errors[0] and "cannot be read" in errors[0], (case, errors)
        with pytest.raises(DataNotFoundError, match="cannot be read"):
            folder_module(root).setup("fit")
    fifo = make_folder(tmp_path / "fifo", per_class=4)
    os.mkfifo(fifo / "fox" / "pipe.png")
    (error,) = _errors(fifo)
    assert "fox/pipe.png (not a regular file)" in error
    linked = make_folder(tmp_path / "linked", per_class=4)
    os.symlink("../cat", linked / "dog" / "cats_too")
    os.symlink(linked / "fox" / "img00.png", linked / "cat" / "zz.png")
    assert _errors(linked) == []
    listed = read_folder(linked, 0.25, 0)
    assert len(listed.train_files) + len(listed.val_files) == 12 + 1 + 5  # zz.png, and cat's 5 again as dog's


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    tree=st.dictionaries(
        st.sampled_from(["a", "b", "B", "c1", "z"]),
        st.lists(
            st.sampled_from(
                ["x.png", "Y.JPG", "n.txt", ".h.png", "sub/q.png", "sub/deep/r.png", "a.b.gif", ".d/s.png"]
            ),
            unique=True,
        ),
        min_size=2,
    )
)
def test_the_listing_is_os_walks_order_where_nothing_is_linked(tmp_path_factory, tree):
    """Without links, the images and their order are what os.walk listed before links were
    checked: the split, and so every run's numbers, are unchanged."""
    root = tmp_path_factory.mktemp("tree")
    for name, files in tree.items():
        (root / name).mkdir()
        for f in [*files, "keep.png"]:
            path = root / name / f
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"")

    def walked(folder: Path) -> list[str]:  # the listing before, for comparison
        found = []
        for path, dirs, files in os.walk(folder, followlinks=True):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            rel = os.path.relpath(path, folder)
            found += [
                os.path.normpath(os.path.join(rel, f))
                for f in sorted(files)
                if not f.startswith(".") and f.lower().endswith(IMAGE_EXTENSIONS)
            ]
        return found

    listed = read_folder(root, 0.5, 0)
    by_label = {}
    for f, label in zip(listed.train_files + listed.val_files, listed.train_labels + listed.val_labels, strict=True):
        by_label.setdefault(label, []).append(f)
    for label, name in enumerate(sorted(tree)):
        expected = [os.path.join(name, f) for f in walked(root / name)]
        assert sorted(by_label[label]) == sorted(expected)
    every = [os.path.join(name, f) for name in sorted(tree) for f in walked(root / name)]
    rows = split_rows(len(every), 0.5, 0)
    assert list(listed.train_files) == [every[i] for i in rows[0]]
    assert list(listed.val_files) == [every[i] for i in rows[1]]


def test_a_file_that_cannot_be_decoded_is_named(tmp_path):
    root = make_folder(tmp_path / "images")
    (root / "dog" / "broken.jpg").write_bytes(b"\xff\xd8 this is not a JPEG")
    with pytest.raises(DataCorruptError) as caught:  # the statistics decode every training image
        folder_module(root, val_fraction=0.01).setup("fit")
    message = str(caught.value)
    assert message.startswith(f"{root / 'dog' / 'broken.jpg'}: cannot be decoded, expected an image file PIL can read")
    assert "\n" not in message
    dm = folder_module(root, mean=[0.5] * 3, std=[0.25] * 3)
    dm.setup("fit")
    with pytest.raises(DataCorruptError, match="broken.jpg: cannot be decoded"):
        list(dm.plain_train_dataloader())


def test_run_validation_counts_the_classes_and_names_a_missing_root(tmp_path):
    root = make_folder(tmp_path / "images", per_class=8)
    cfg = compose_run(*SMOKE_DATA, "data=image_folder", f"data.root={root}", run_dir=tmp_path / "run")
    assert cfg.callbacks.probe.num_classes == 3 and config_errors(cfg) == []
    missing = compose_run(*SMOKE_DATA, "data=image_folder", f"data.root={tmp_path}/nowhere", run_dir=tmp_path / "r2")
    assert config_errors(missing) == [
        f"data.root='{tmp_path}/nowhere': no such folder (expected DIR/<class>/<image>, "
        "or DIR/train/<class>/<image> and DIR/val/<class>/<image>)"
    ]
    wrong = compose_run(*SMOKE_DATA, "data=image_folder", f"data.root={root}", "data.num_classes=4", run_dir=tmp_path)
    assert [e.split(":")[0] for e in config_errors(wrong)] == ["data.num_classes=4"]


# CIFAR: pickles read by an unpickler that runs no code.


def write_cifar100(root: Path, train: int = 64, test: int = 32, protocol: int = 4) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    arrays = {}
    for name, n in (("train", train), ("test", test)):
        arrays[name] = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        batch = {
            "filenames": [f"{i}.png" for i in range(n)],
            "batch_label": f"{name} batch",
            "fine_labels": (np.arange(n) % 100).tolist(),
            "coarse_labels": (np.arange(n) % 20).tolist(),
            "data": arrays[name],
        }
        (folder / name).write_bytes(pickle.dumps(batch, protocol=protocol))
    meta = {"fine_label_names": [f"c{i}" for i in range(100)], "coarse_label_names": [f"s{i}" for i in range(20)]}
    (folder / "meta").write_bytes(pickle.dumps(meta))
    return arrays


@pytest.mark.parametrize("protocol", [4, 5])  # 5 rebuilds arrays with _frombuffer
def test_cifar100_reads_the_fine_labels(tmp_path, protocol):
    arrays = write_cifar100(tmp_path, protocol=protocol)
    (train_x, train_y), (test_x, test_y) = load_cifar100(tmp_path)
    assert train_x.shape == (64, 3, 32, 32) and train_x.dtype == torch.uint8 and test_x.shape == (32, 3, 32, 32)
    assert torch.equal(train_x.reshape(64, -1), torch.from_numpy(arrays["train"]))  # rows are R, G, B planes
    assert train_y.tolist() == list(range(64)) and train_y.dtype == torch.int64
    assert CIFAR100DataModule.config_errors(root=str(tmp_path)) == []


def test_python3_protocol_2_is_refused(tmp_path):
    """Python 3's protocol 2 stores bytes through _codecs.encode, which no CIFAR file needs."""
    write_cifar100(tmp_path, protocol=2)
    with pytest.raises(DataCorruptError, match="asks to run _codecs.encode while unpickling"):
        load_cifar100(tmp_path)


def test_missing_cifar100_names_the_folder_and_the_files(tmp_path):
    (errors,) = CIFAR100DataModule.config_errors(root=str(tmp_path))
    assert errors.startswith(f"root='{tmp_path}': CIFAR-100 not found there (expected cifar-100-python/ with train")
    assert "none of these files is there" in errors and "Nothing is downloaded" in errors
    write_cifar100(tmp_path)
    (tmp_path / "cifar-100-python" / "meta").unlink()
    (errors,) = CIFAR100DataModule.config_errors(root=str(tmp_path))
    assert "CIFAR-100 not found there" in errors and "; missing: cifar-100-python/meta)" in errors


def test_cifar10_reads_what_pickle_would(tmp_path):
    """The same arrays as before the restricted unpickler (whose files are trusted here)."""
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for name in ["batches.meta", *(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]:
        batch = {"data": rng.integers(0, 256, (8, 3072), dtype=np.uint8), "labels": rng.integers(0, 10, 8).tolist()}
        (folder / name).write_bytes(pickle.dumps(batch))
    (train_x, train_y), (test_x, _) = load_cifar10(tmp_path)
    trusted = [pickle.loads((folder / f"data_batch_{i}").read_bytes()) for i in range(1, 6)]
    assert torch.equal(train_x, torch.from_numpy(np.concatenate([b["data"] for b in trusted])).reshape(-1, 3, 32, 32))
    assert train_y.tolist() == sum((b["labels"] for b in trusted), []) and test_x.shape == (8, 3, 32, 32)


class RunsCode:
    """A pickle payload that calls ``call(argument)`` when unpickled."""

    def __init__(self, call, argument):
        self.call, self.argument = call, argument

    def __reduce__(self):
        return self.call, (self.argument,)


@pytest.mark.parametrize("dataset", ["cifar10", "cifar100"])
@pytest.mark.parametrize("payload", ["os.system", "builtins.exec"])
def test_a_pickle_that_runs_code_is_refused_and_nothing_runs(tmp_path, dataset, payload):
    marker = tmp_path / "marker"
    evil = {
        "os.system": RunsCode(os.system, f"touch {marker}"),
        "builtins.exec": RunsCode(exec, f"open({str(marker)!r}, 'w').write('ran')"),
    }[payload]
    if dataset == "cifar10":
        path, load = tmp_path / "cifar-10-batches-py" / "data_batch_1", load_cifar10
    else:
        write_cifar100(tmp_path)
        path, load = tmp_path / "cifar-100-python" / "train", load_cifar100
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(pickle.dumps({"data": evil, "labels": [0], "fine_labels": [0]}))
    with pytest.raises(DataCorruptError) as caught:
        load(tmp_path)
    module = "posix.system" if payload == "os.system" else "builtins.exec"
    assert str(caught.value).startswith(f"{path}: refused, it asks to run {module} while unpickling")
    assert not marker.exists()


# STL-10: binaries through np.memmap; unlabelled images labelled UNLABELLED.


def write_stl10(root: Path, train: int = 24, test: int = 12, unlabelled: int | None = 40) -> dict[str, np.ndarray]:
    """The standard files: each image its R, G, B planes of 96×96 bytes, stored column by column."""
    rng = np.random.default_rng(2)
    folder = root / "stl10_binary"
    folder.mkdir(parents=True)
    arrays = {}
    for name, n in (("train", train), ("test", test), ("unlabeled", unlabelled)):
        if n is None:
            continue
        arrays[name] = rng.integers(0, 256, (n, 3, 96, 96), dtype=np.uint8)  # (N, C, H, W)
        (folder / f"{name}_X.bin").write_bytes(arrays[name].transpose(0, 1, 3, 2).tobytes())
        if name != "unlabeled":
            arrays[f"{name}_y"] = (np.arange(n) % 10 + 1).astype(np.uint8)
            arrays[f"{name}_y"].tofile(folder / f"{name}_y.bin")
    return arrays


def test_stl10_pretrains_on_unlabelled_images_and_evaluates_on_labelled_ones(tmp_path):
    arrays = write_stl10(tmp_path)
    dm = STL10DataModule(augment=AUGMENT, root=str(tmp_path), image_size=16, batch_size=8)
    dm.setup("fit")
    assert len(dm.train_set) == 64 and len(dm.plain_train_set) == 24 and len(dm.plain_val_set) == 12
    labels = dm.train_set.labels
    assert labels[:24].tolist() == [i % 10 for i in range(24)] and (labels[24:] == UNLABELLED).all()
    images = dm.train_set.images
    assert torch.equal(images[[0, 30]], torch.from_numpy(np.stack([arrays["train"][0], arrays["unlabeled"][6]])))
    assert len(pickle.dumps(images)) < 2000  # file names and offsets travel to workers, not pixels
    assert isinstance(images.parts[1]._array, np.memmap)
    x1, x2, y = next(iter(dm.train_dataloader()))
    assert x1.shape == x2.shape == (8, 3, 16, 16) and y.min() >= UNLABELLED
    x, y = next(iter(dm.plain_val_dataloader()))
    assert x.shape == (8, 3, 16, 16) and y.tolist() == list(range(8))


def test_stl10_without_unlabelled_images_needs_no_unlabelled_file(tmp_path):
    write_stl10(tmp_path, unlabelled=None)
    (error,) = STL10DataModule.config_errors(root=str(tmp_path))
    assert error.startswith(f"root='{tmp_path}': STL-10 not found there (expected stl10_binary/ with train_X.bin")
    assert error.split(";")[1].startswith(" missing: stl10_binary/unlabeled_X.bin")
    assert STL10DataModule.config_errors(root=str(tmp_path), unlabeled=False) == []
    dm = STL10DataModule(augment=AUGMENT, root=str(tmp_path), image_size=16, batch_size=8, unlabeled=False)
    dm.setup("fit")
    assert len(dm.train_set) == 24 and (dm.train_set.labels >= 0).all()


def test_damaged_stl10_files_are_named(tmp_path):
    write_stl10(tmp_path)
    with open(tmp_path / "stl10_binary" / "test_X.bin", "ab") as f:
        f.write(b"\0" * 5)
    with pytest.raises(DataCorruptError, match=r"test_X.bin: 331781 bytes, expected test_X.bin: a whole number"):
        STL10DataModule(augment=AUGMENT, root=str(tmp_path)).setup("fit")


def test_the_probe_learns_from_labelled_images_only():
    def probe_weights(batches, has_unlabelled: bool) -> torch.Tensor:
        torch.manual_seed(0)
        probe = OnlineProbe(lr=0.1)
        module = SimpleNamespace(online=SimpleNamespace(backbone=SimpleNamespace(out_dim=4)), log=lambda *a, **k: None)
        data = SimpleNamespace(num_classes=3, has_unlabelled=has_unlabelled)
        trainer = SimpleNamespace(
            datamodule=data, strategy=SimpleNamespace(root_device=torch.device("cpu")), world_size=1, global_step=0
        )
        trainer.log_every_n_steps = 1
        probe.setup(trainer, module, "fit")
        assert probe.num_classes == 3  # None: the datamodule's
        for features, labels in batches:
            probe.on_train_batch_end(trainer, module, {"features": features, "labels": labels}, None, 0)
        return probe.classifier.weight.detach().clone()

    features, labels = torch.randn(6, 4), torch.tensor([0, UNLABELLED, 2, UNLABELLED, 1, 2])
    labelled = labels != UNLABELLED
    mixed = probe_weights([(features, labels)], has_unlabelled=True)
    assert torch.equal(mixed, probe_weights([(features[labelled], labels[labelled])], has_unlabelled=False))
    untouched = probe_weights([], has_unlabelled=True)
    assert torch.equal(probe_weights([(features[:2], torch.full((2,), UNLABELLED))], True), untouched)


def test_supervised_training_refuses_unlabelled_images(tmp_path):
    write_stl10(tmp_path / "data")
    cfg = compose_run(*SMOKE_DATA, "data=stl10", f"data.root={tmp_path}/data", "loss=supervised", run_dir=tmp_path)
    assert config_errors(cfg) == [
        "data.unlabeled=True: loss=supervised trains on labels, and the unlabelled images have none; "
        "set data.unlabeled=false (the labelled images only)"
    ]


# End to end: the CLI on each kind of data.


def _smoke(tmp_path: Path, *overrides: str, env: dict | None = None) -> dict:
    run_dir = tmp_path / "run"
    result = run_cli(*SMOKE_DATA, "data.num_workers=0", f"hydra.run.dir={run_dir}", *overrides, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads((run_dir / "summary.json").read_text())


@pytest.mark.slow
def test_cli_smoke_run_on_an_image_folder(tmp_path):
    """The README's command, as written: the smoke preset on a folder of images (36 to train on)."""
    root = make_folder(tmp_path / "images", per_class=16)
    run_dir = tmp_path / "run"
    result = run_cli(
        "experiment=smoke", "data=image_folder", f"data.root={root}", "eval.linear=true", f"hydra.run.dir={run_dir}",
        env={"XDG_CACHE_HOME": str(tmp_path / "cache")},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "ok" and 0 <= summary["linear_acc"] <= 1 and summary["data"] == "image_folder"


@pytest.mark.slow
def test_cli_smoke_run_on_cifar100(tmp_path):
    write_cifar100(tmp_path / "data")
    summary = _smoke(tmp_path, "data=cifar100", "eval.linear=true", env={"RAFT_DATA_DIR": str(tmp_path / "data")})
    assert summary["status"] == "ok" and summary["linear_acc"] is not None


@pytest.mark.slow
def test_cli_smoke_run_on_stl10_with_unlabelled_images(tmp_path):
    write_stl10(tmp_path / "data")
    summary = _smoke(tmp_path, "data=stl10", "data.pipeline=batched", env={"RAFT_DATA_DIR": str(tmp_path / "data")})
    assert summary["status"] == "ok" and summary["probe_acc"] is not None and summary["knn_acc"] is not None


@pytest.mark.slow
def test_a_damaged_image_met_by_a_worker_ends_the_run_with_one_line(tmp_path):
    """With DataLoader workers (data.num_workers > 0, the default), a damaged validation image
    left the run recorded failed and the process waiting forever for its workers, and printed
    the worker's traceback. Now: exit 1, the file named in one line, nothing left running."""
    root = make_folder(tmp_path / "images", per_class=16, split=True)
    (root / "val" / "dog" / "img00.png").write_bytes(b"\x89PNG\r\n\x1a\n cut short")
    run_dir = tmp_path / "run"
    result = run_cli(
        "experiment=smoke", "data=image_folder", f"data.root={root}", "data.num_workers=2", f"hydra.run.dir={run_dir}",
        env={"XDG_CACHE_HOME": str(tmp_path / "cache")}, timeout=300,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    assert "Traceback" not in output and len([ln for ln in output.splitlines() if "img00.png" in ln]) == 1, output
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "failed" and summary["error"].startswith("DataCorruptError: ")
    damaged = root / "val" / "dog" / "img00.png"
    assert f"{damaged}: cannot be decoded" in summary["error"] and "\n" not in summary["error"]


def test_a_relative_root_is_recorded_absolute_and_the_run_read_from_anywhere(tmp_path, monkeypatch):
    """data.root=images names a folder under the command's own: the run folder records it
    absolute, so its evaluation does not depend on where it is started; gone, it is one line."""
    from raft_lightning.linear_eval import evaluate_run
    from raft_lightning.readers import read_config
    from raft_lightning.run.train import train

    make_folder(tmp_path / "images", per_class=16)
    monkeypatch.chdir(tmp_path)
    run_dir = tmp_path / "run"
    overrides = ("experiment=smoke", "logger=none", "data=image_folder", "data.root=images", "data.num_workers=0")
    cfg = compose_run(*overrides, "trainer.max_epochs=1", run_dir=run_dir)
    assert train(cfg)["status"] == "ok"
    assert read_config(run_dir).data.root == str(tmp_path / "images")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert evaluate_run(run_dir, cfg.eval)["linear_acc"] is not None
    (tmp_path / "images").rename(tmp_path / "moved")
    done = subprocess.run(
        [sys.executable, "-m", "raft_lightning.linear_eval", f"run_dir={run_dir}"], capture_output=True, text=True
    )
    (line,) = done.stderr.strip().splitlines()
    assert done.returncode == 1 and f"its config is not valid here: data.root='{tmp_path / 'images'}': no such" in line
    assert line.endswith("if the data moved, data_root=<folder> says where they are now")
    # the same images elsewhere: evaluated from there (their digest is the run's)
    assert evaluate_run(run_dir, cfg.eval, data_root=str(tmp_path / "moved"))["linear_acc"] is not None


def test_an_empty_root_is_refused_not_read_as_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(make_folder(tmp_path / "images", per_class=16))  # a folder that would pass
    errors = config_errors(compose_run("experiment=smoke", "data=image_folder", "data.root=", run_dir=tmp_path / "run"))
    assert len(errors) == 1 and errors[0].startswith("data.root='': set data.root to your image folder"), errors


def test_a_run_records_its_folder_and_is_not_evaluated_or_resumed_on_other_images(tmp_path):
    """summary.json's data_files: the image counts, a digest of the listing and the statistics the
    run normalised with. An image added later: the evaluation and a resume refuse (one line), the
    record keeps what it trained on; export needs no folder at all; restored, the run resumes."""
    from raft_lightning.export.run import export_record
    from raft_lightning.linear_eval import evaluate_run
    from raft_lightning.readers import DamagedFile, read_summary
    from raft_lightning.run.train import train

    root = make_folder(tmp_path / "images", per_class=16)
    run_dir = tmp_path / "run"
    overrides = ("experiment=smoke", "logger=none", "data=image_folder", f"data.root={root}", "data.num_workers=0")
    cfg = compose_run(*overrides, "trainer.max_epochs=1", run_dir=run_dir)
    first = train(cfg)
    files = first["data_files"]
    module = ImageFolderDataModule(
        **{k: v for k, v in compose_run(*overrides, run_dir=run_dir).data.items() if k != "_target_"}
    )
    module.setup("fit")
    assert (files["train_images"], files["val_images"]) == (
        len(module.folder().train_files),
        len(module.folder().val_files),
    )
    assert files["mean"] == pytest.approx(list(module.mean)) and files["std"] == pytest.approx(list(module.std))

    added = root / "dog" / "copy.png"
    added.write_bytes((root / "dog" / "img00.png").read_bytes())  # one more image
    then = f"{files['train_images']} training and {files['val_images']} validation images then"
    with pytest.raises(DataChanged, match=rf"not the images the run trained on \({then}; "):
        evaluate_run(run_dir, cfg.eval)
    before = (run_dir / "summary.json").read_bytes()
    longer = train(compose_run(*overrides, "trainer.max_epochs=2", run_dir=run_dir))
    assert longer["status"] == "refused" and "not the images the run trained on" in longer["error"]
    assert (run_dir / "summary.json").read_bytes() == before  # the record as it was, results and all

    moved = tmp_path / "moved"
    root.rename(moved)  # export reads the recorded statistics, not the folder
    assert export_record(run_dir)["normalization"] == {"mean": files["mean"], "std": files["std"]}
    moved.rename(root)
    added.unlink()
    again = train(compose_run(*overrides, "trainer.max_epochs=2", run_dir=run_dir))
    assert again["status"] == "ok" and again["epochs"] == 2 and again["data_files"] == files

    summary = json.loads((run_dir / "summary.json").read_text())
    summary["data_files"]["std"] = [0.0, 1.0, 1.0]  # an edited record is refused, not divided by
    (run_dir / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(
        DamagedFile, match=r"data_files.std=\[0.0, 1.0, 1.0\]: expected null or 3 finite numbers, each > 0"
    ):
        read_summary(run_dir)


def test_the_loaders_start_no_more_workers_than_the_cpus_the_run_may_use(tmp_path, monkeypatch):
    """num_workers=4 (image_folder's default) on a 2-CPU machine: 2 workers, without torch's warning."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    module = folder_module(make_folder(tmp_path / "images", per_class=16), num_workers=4)
    module.setup("fit")
    assert module.plain_val_dataloader().num_workers == 2


@pytest.mark.parametrize("change", ["same size", "swapped classes"])
def test_the_digest_sees_an_image_rewritten_to_the_same_size_and_class_folders_swapped(tmp_path, change):
    from raft_lightning.data.image_folder import listing_digest

    root = make_folder(tmp_path / "images", per_class=4)
    for name in ("cat", "dog"):  # equal sizes everywhere: only the content tells them apart
        for i, image in enumerate(sorted((root / name).glob("img*"))):
            image.write_bytes(bytes([i, ord(name[0])]) * 3000)
    before = listing_digest(read_folder(root, 0.25, 0))
    if change == "same size":
        image = sorted((root / "cat").glob("img*"))[1]
        data = bytearray(image.read_bytes())
        data[-1] ^= 0xFF  # the last byte only, as a rewrite that keeps the header would
        image.write_bytes(bytes(data))
    else:
        (root / "cat").rename(root / "tmp")
        (root / "dog").rename(root / "cat")
        (root / "tmp").rename(root / "dog")
    assert listing_digest(read_folder(root, 0.25, 0)) != before


@pytest.mark.parametrize(
    "edit, says",
    [
        ({"train_images": -5}, "data_files.train_images=-5: expected an integer ≥ 0"),
        ({"digest": ""}, "data_files.digest='': expected a sha256 (64 hexadecimal digits)"),
        ({"std": [0.0, 1.0, 1.0]}, "data_files.std=[0.0, 1.0, 1.0]: expected null or 3 finite numbers, each > 0"),
        ({"mean": ["a", 0, 0]}, "data_files.mean=['a', 0, 0]: expected null or 3 finite numbers"),
        ({"mean": None, "std": None}, None),  # statistics not known yet: allowed
    ],
)
def test_an_edited_data_files_is_named_with_what_was_expected(edit, says):
    from raft_lightning.summary import problems

    files = {"train_images": 43, "val_images": 5, "digest": "ab" * 32, "mean": [0.5] * 3, "std": [0.25] * 3}
    found = problems({"status": "ok", "seed": 0, "data_files": {**files, **edit}})
    assert found == ([] if says is None else [says]), found
    missing = dict(files)
    del missing["mean"]
    assert problems({"status": "ok", "seed": 0, "data_files": missing}) == [
        "data_files.mean: missing (null where the statistics were not known)"
    ]


def test_an_interrupted_run_records_its_folder_and_resumes_on_it_only(tmp_path):
    """data_files was written at the end of a run only: one stopped by a signal recorded none, and
    its resume trained on whatever the folder held by then (red team)."""
    import signal

    from raft_lightning.run.train import train

    root = make_folder(tmp_path / "images", per_class=16)
    kill = (
        "+callbacks.kill._target_=tests.helpers.SignalAt",
        "+callbacks.kill.step=2",
        f"+callbacks.kill.marker={tmp_path}/m",
    )
    overrides = ("experiment=smoke", "logger=none", "data=image_folder", f"data.root={root}", "data.num_workers=0")
    overrides += ("data.batch_size=8",)  # steps enough for a signal in the first epoch
    previous = signal.signal(signal.SIGTERM, lambda *_: None)  # the shell's handler, as in test_resume
    try:
        stopped = train(compose_run(*overrides, *kill, "trainer.max_epochs=2", run_dir=tmp_path / "run"))
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert stopped["status"] == "interrupted" and stopped["data_files"]["train_images"] > 0, stopped
    (root / "dog" / "copy.png").write_bytes((root / "dog" / "img00.png").read_bytes())
    again = train(compose_run(*overrides, *kill, "trainer.max_epochs=2", run_dir=tmp_path / "run"))
    assert again["status"] == "refused" and "not the images the run trained on" in again["error"], again


@pytest.mark.parametrize("record", ["deleted", "damaged"])
def test_a_resume_without_its_summary_checks_the_images_its_checkpoint_recorded(tmp_path, record):
    """The checkpoint keeps a copy of data_files: with summary.json gone (or damaged, set aside) a
    resume on other images is refused all the same, on the same images it continues; a copy edited
    by hand is named, not used to normalise."""
    import torch

    from raft_lightning.run.train import train

    root = make_folder(tmp_path / "images", per_class=16)
    run_dir = tmp_path / "run"
    overrides = ("experiment=smoke", "logger=none", "data=image_folder", f"data.root={root}", "data.num_workers=0")
    files = train(compose_run(*overrides, "trainer.max_epochs=1", run_dir=run_dir))["data_files"]
    checkpoint = run_dir / "checkpoints" / "last.ckpt"
    state = torch.load(checkpoint, weights_only=True)
    kept = [v["data_files"] for v in state.values() if isinstance(v, dict) and "data_files" in v]
    assert kept == [files]

    def lose_the_summary() -> None:
        if record == "deleted":
            (run_dir / "summary.json").unlink()
        else:
            (run_dir / "summary.json").write_text("{ not json")

    added = root / "dog" / "copy.png"
    added.write_bytes((root / "dog" / "img00.png").read_bytes())
    lose_the_summary()
    longer = train(compose_run(*overrides, "trainer.max_epochs=2", run_dir=run_dir))
    assert longer["status"] == "refused" and "not the images the run trained on" in longer["error"], longer
    assert not (run_dir / "summary.json").exists() or record == "damaged"

    state = torch.load(checkpoint, weights_only=True)
    edited = next(v for v in state.values() if isinstance(v, dict) and "data_files" in v)
    edited["data_files"]["std"] = [0.0, 1.0, 1.0]
    torch.save(state, tmp_path / "edited.ckpt")
    saved = checkpoint.read_bytes()
    checkpoint.write_bytes((tmp_path / "edited.ckpt").read_bytes())
    added.unlink()
    damaged = train(compose_run(*overrides, "trainer.max_epochs=2", run_dir=run_dir))
    assert damaged["status"] == "refused" and str(checkpoint) in damaged["error"], damaged
    assert "data_files.std=[0.0, 1.0, 1.0]: expected null or 3 finite numbers" in damaged["error"], damaged

    checkpoint.write_bytes(saved)
    again = train(compose_run(*overrides, "trainer.max_epochs=2", run_dir=run_dir))
    assert again["status"] == "ok" and again["epochs"] == 2 and again["data_files"] == files, again


@pytest.mark.parametrize("name", ["image_folder", "my_images"])
def test_a_moved_folder_run_without_a_digest_is_not_evaluated_elsewhere(tmp_path, name):
    """A run recorded before data_files (no digest) cannot be checked against another folder: a
    data_root is refused, whatever the config option holding the folder is named (``name``: the
    record's data choice, as an option of the user's own data group would record it)."""
    import torch

    from raft_lightning.linear_eval import evaluate_run
    from raft_lightning.run.train import train

    root = make_folder(tmp_path / "images", per_class=16)
    run_dir = tmp_path / "run"
    overrides = ("experiment=smoke", "logger=none", "data=image_folder", f"data.root={root}", "data.num_workers=0")
    cfg = compose_run(*overrides, "trainer.max_epochs=1", run_dir=run_dir)
    assert train(cfg)["status"] == "ok"
    summary = json.loads((run_dir / "summary.json").read_text())
    summary["data_files"], summary["data"] = None, name  # as a run from before data_files
    (run_dir / "summary.json").write_text(json.dumps(summary))
    checkpoint = run_dir / "checkpoints" / "last.ckpt"
    state = torch.load(checkpoint, weights_only=True)  # and its checkpoint from before the copy in it
    for value in state.values():
        if isinstance(value, dict):
            value.pop("data_files", None)
    torch.save(state, checkpoint)
    root.rename(tmp_path / "moved")
    with pytest.raises(DataChanged, match="the run recorded no digest of its images"):
        evaluate_run(run_dir, cfg.eval, data_root=str(tmp_path / "moved"))
    (tmp_path / "moved").rename(root)
    assert evaluate_run(run_dir, cfg.eval)["linear_acc"] is not None  # where its config says: evaluated


def test_the_checkpoints_copy_of_data_files_serves_where_the_record_has_none_and_must_agree(tmp_path):
    """A run killed before it recorded data_files (null in summary.json): its evaluation on other
    images is refused and its export writes the statistics, both from the checkpoint's copy. A
    checkpoint brought from a run on other images into a folder whose record names its own: its
    resume is refused, naming the checkpoint."""
    import shutil

    import torch

    from raft_lightning.export.run import export_record
    from raft_lightning.linear_eval import evaluate_run
    from raft_lightning.run.train import train

    def run_on(root, run_dir, epochs=1):
        overrides = ("experiment=smoke", "logger=none", "data=image_folder", f"data.root={root}", "data.num_workers=0")
        return compose_run(*overrides, f"trainer.max_epochs={epochs}", run_dir=run_dir)

    a, b = make_folder(tmp_path / "a", per_class=16), make_folder(tmp_path / "b", per_class=20)
    files = train(run_on(a, tmp_path / "x"))["data_files"]
    assert train(run_on(b, tmp_path / "y"))["status"] == "ok"
    summary_path = tmp_path / "x" / "summary.json"
    summary = json.loads(summary_path.read_text())
    summary["data_files"] = None  # as a SIGKILLed run leaves it: never recorded
    summary_path.write_text(json.dumps(summary))

    shutil.move(a, tmp_path / "away")  # export: the checkpoint's statistics, the folder gone
    assert export_record(tmp_path / "x")["normalization"] == {"mean": files["mean"], "std": files["std"]}
    shutil.copytree(b, a)  # other images where the run's were: its evaluation is refused
    with pytest.raises(DataChanged, match="not the images the run trained on"):
        evaluate_run(tmp_path / "x", run_on(a, tmp_path / "x").eval)
    shutil.rmtree(a)
    shutil.move(tmp_path / "away", a)

    summary["data_files"] = files
    summary_path.write_text(json.dumps(summary))
    ours = tmp_path / "x" / "checkpoints" / "last.ckpt"
    shutil.copy(tmp_path / "y" / "checkpoints" / "last.ckpt", ours)  # another run's weights, on b
    before = summary_path.read_bytes()
    longer = train(run_on(a, tmp_path / "x", epochs=2))
    assert longer["status"] == "refused" and str(ours) in longer["error"], longer
    assert "are not the images summary.json records" in longer["error"] and summary_path.read_bytes() == before
    assert torch.load(ours, weights_only=True)["epoch"] == 0  # left as it was
