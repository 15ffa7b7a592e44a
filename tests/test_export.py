"""raft-export and load_backbone (docs/export.md): the online backbone out of a run, as plain
values; torchvision's ResNet-18 takes it strictly; nothing in a run folder or an exported file
runs; a finished run drops last.prev.ckpt unless asked to keep it."""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

from raft_lightning import load_backbone
from raft_lightning.export.cli import main
from raft_lightning.export.run import normalization
from raft_lightning.files import BACKBONE_FILE
from raft_lightning.lock import FolderLock
from raft_lightning.readers import DamagedFile, read_config, read_summary
from raft_lightning.run.build import load_run
from raft_lightning.run.checkpoints import previous_of
from raft_lightning.run.train import train
from raft_lightning.run.validation import ConfigError, check_config
from tests.conftest import ROOT, compose_run

# The smoke preset, smaller still: the export reads weights, it does not care how good they are.
TINY = ("experiment=smoke", "logger=none", "data.train_size=32", "data.val_size=16", "data.batch_size=16")
DOCS = ROOT / "docs" / "export.md"


def train_run(folder: Path, *overrides: str) -> Path:
    """Two epochs by default: the second save makes a last.prev.ckpt."""
    summary = train(compose_run(*TINY, "trainer.max_epochs=2", *overrides, run_dir=folder))
    assert summary["status"] == "ok", summary["error"]
    return folder


@pytest.fixture(scope="module")
def resnet_run(tmp_path_factory) -> Path:
    """``experiment=smoke model=resnet18_cifar`` (the preset's width stays with the convnet), one
    epoch at 8×8: ~185 MB of checkpoint and a minute of CPU even so."""
    folder = tmp_path_factory.mktemp("resnet") / "run"
    return train_run(folder, "model=resnet18_cifar", "trainer.max_epochs=1", "data.image_size=8")


@pytest.fixture(scope="module")
def convnet_run(tmp_path_factory) -> Path:
    return train_run(tmp_path_factory.mktemp("convnet") / "run")


def export(capsys, *args: str) -> tuple[int, str, str]:
    """``raft-export args`` in-process: exit status, stdout, stderr."""
    try:
        main(list(args))
        code = 0
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def run_backbone(run_dir: Path) -> nn.Module:
    """The run's own online backbone, rebuilt by the project's run loader from its checkpoint."""
    _, model, _ = load_run(run_dir)
    return model.online.backbone.eval()


def features(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return net(x)


def documented_snippet(path: Path) -> dict:
    """Runs the torchvision block of docs/export.md with ``path`` set; returns its variables."""
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(), flags=re.DOTALL)
    block = next(b for b in blocks if "torchvision.models.resnet18()" in b)
    scope = {"path": path}
    exec(block, scope)
    return scope


# --- the ResNet: into torchvision, strictly --------------------------------------------------------


def test_smoke_with_resnet18_cifar_composes_without_the_convnet_width(tmp_path):
    cfg = compose_run("experiment=smoke", "model=resnet18_cifar", run_dir=tmp_path)
    assert dict(cfg.model.backbone) == {"_target_": "raft_lightning.models.build_backbone", "name": "resnet18_cifar"}
    check_config(cfg, {})  # raises ConfigError when a width reaches the ResNet


@pytest.mark.slow
def test_the_documented_snippet_loads_strictly_into_torchvision(resnet_run, tmp_path, capsys):
    out = tmp_path / "encoder.pt"
    code, printed, err = export(capsys, f"run_dir={resnet_run}", f"out={out}")
    assert code == 0, err
    assert "resnet18_cifar" in printed
    scope = documented_snippet(out)  # torch.load(weights_only=True), load_state_dict(strict=True)
    saved, net = scope["saved"], scope["net"]
    assert set(saved["state_dict"]) == set(torchvision.models.resnet18().state_dict()) - {"fc.weight", "fc.bias"}
    assert scope["features"].shape == (8, 512)
    # torchvision's modules with the same weights are the same operations as our backbone (which is
    # built from them): the same kernels on the same inputs give the same bits.
    x = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    assert torch.equal(features(net, x), features(run_backbone(resnet_run), x))


@pytest.mark.slow
def test_load_backbone_gives_the_runs_512_d_features(resnet_run, tmp_path, capsys):
    out = tmp_path / "backbone.pt"
    assert export(capsys, f"run_dir={resnet_run}", f"out={out}")[0] == 0
    net = load_backbone(out)
    assert isinstance(net, torchvision.models.ResNet) and not net.training
    x = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    got = features(net, x)
    assert got.shape == (4, 512)
    assert torch.equal(got, features(run_backbone(resnet_run), x))  # same modules, same weights: bitwise


# --- the convnet: the whole record -----------------------------------------------------------------


def test_the_convnet_export_round_trips(convnet_run, capsys):
    code, _, err = export(capsys, f"run_dir={convnet_run}")
    assert code == 0, err
    saved = torch.load(convnet_run / BACKBONE_FILE, weights_only=True)
    summary = read_summary(convnet_run)
    assert saved["architecture"] == {"name": "convnet", "width": 8}
    assert (saved["out_dim"], saved["in_channels"], saved["image_size"]) == (32, 3, 16)
    assert saved["normalization"] == {"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}
    assert saved["config"] == dict(read_config(convnet_run, portable_form=True))
    assert saved["results"]["knn_acc"] == summary["knn_acc"] and saved["results"]["align"] == summary["align"]
    assert (saved["status"], saved["epochs"]) == ("ok", 2)
    x = torch.randn(5, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    assert torch.equal(features(load_backbone(convnet_run / BACKBONE_FILE), x), features(run_backbone(convnet_run), x))


@pytest.mark.slow
def test_the_documented_command_writes_backbone_pt(convnet_run, tmp_path):
    for module in ("raft_lightning.export", "raft_lightning.export.cli"):  # both spellings of the command
        (convnet_run / BACKBONE_FILE).unlink(missing_ok=True)
        command = [sys.executable, "-m", module, f"run_dir={convnet_run}"]
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        assert load_backbone(convnet_run / BACKBONE_FILE).out_dim == 32


def test_normalization_comes_from_the_data_config_else_the_dataset():
    from omegaconf import OmegaConf

    cifar = OmegaConf.create({"_target_": "raft_lightning.data.CIFAR10DataModule"})
    assert normalization(cifar)["mean"] == pytest.approx([0.4914, 0.4822, 0.4465], abs=1e-4)
    own = OmegaConf.create({"_target_": "raft_lightning.data.ImageFolderDataModule", "mean": [0.1] * 3, "std": [2] * 3})
    assert normalization(own) == {"mean": [0.1] * 3, "std": [2.0] * 3}


# --- nothing in a folder or a file runs ------------------------------------------------------------


class Planted:
    """A pickle that makes a directory when it is loaded: code a file chose."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return os.makedirs, (self.marker,)


def test_a_planted_pickle_in_the_checkpoint_never_runs(convnet_run, tmp_path, capsys):
    run_dir, marker = tmp_path / "run", tmp_path / "ran"
    (run_dir / "checkpoints").mkdir(parents=True)
    for name in ("config.yaml", "summary.json"):
        (run_dir / name).write_bytes((convnet_run / name).read_bytes())
    state = torch.load(convnet_run / "checkpoints" / "last.ckpt", weights_only=True)
    torch.save({**state, "planted": Planted(marker)}, run_dir / "checkpoints" / "last.ckpt")
    torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)  # the plant works when trusted
    assert marker.is_dir()
    marker.rmdir()
    code, _, err = export(capsys, f"run_dir={run_dir}")
    assert code == 1 and not marker.exists()
    assert len(err.strip().splitlines()) == 1 and "last.ckpt" in err and "refused" in err
    assert not (run_dir / BACKBONE_FILE).exists()


@pytest.mark.parametrize(
    "edit, message",
    [
        # the key that is wrong, not the name beside it (which is one of the package's)
        ({"_target_": "os.system", "command": "touch MARKER"}, "model.backbone._target_='os.system': raft-export"),
        ({"name": "vgg11"}, "model.backbone.name='vgg11': raft-export writes the package's backbones only"),
        ({"name": ["convnet"]}, "model.backbone.name=['convnet']: raft-export writes"),
        ({"name": {"a": 1}}, "model.backbone.name={'a': 1}: raft-export writes"),
        ("null", "model.backbone=None: a mapping with _target_ and name"),
        ("convnet", "model.backbone='convnet': a mapping with _target_ and name"),
        ("no model", "model.backbone=missing: a mapping with _target_ and name"),
    ],
)
def test_a_backbone_export_cannot_write_is_named_by_its_key(convnet_run, tmp_path, capsys, edit, message):
    from omegaconf import OmegaConf

    run_dir = tmp_path / "run"
    shutil.copytree(convnet_run, run_dir)
    (run_dir / BACKBONE_FILE).unlink(missing_ok=True)  # an earlier test's export
    cfg = OmegaConf.load(run_dir / "config.yaml")
    if edit == "no model":
        del cfg["model"]
    elif isinstance(edit, str):
        cfg.model.backbone = None if edit == "null" else edit
    else:
        for key, value in edit.items():  # set, not merged: a list or mapping replaces the name
            cfg.model.backbone[key] = (
                value.replace("MARKER", str(tmp_path / "ran")) if isinstance(value, str) else value
            )
    OmegaConf.save(cfg, run_dir / "config.yaml")
    code, _, err = export(capsys, f"run_dir={run_dir}")
    assert code == 1 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "ran").exists() and not (run_dir / BACKBONE_FILE).exists()


def test_a_planted_pickle_in_a_backbone_file_never_runs(convnet_run, tmp_path, capsys):
    assert export(capsys, f"run_dir={convnet_run}")[0] == 0
    saved = torch.load(convnet_run / BACKBONE_FILE, weights_only=True)
    planted, marker = tmp_path / "backbone.pt", tmp_path / "ran"
    torch.save({**saved, "architecture": Planted(marker)}, planted)
    with pytest.raises(DamagedFile, match="backbone.pt: it holds objects other than tensors"):
        load_backbone(planted)
    assert not marker.exists()


@pytest.mark.parametrize(
    "change, message",
    [
        ({"architecture": {"name": "os.system"}}, "unknown backbone; choose one of resnet18, resnet18_cifar"),
        ({"architecture": {"name": "convnet", "width": 16}}, "weights that do not fit the convnet backbone"),
        ({"format": None}, "format=None .a Lightning checkpoint: export it with raft-export"),
        ({"version": 2}, "this raft-lightning reads version 1"),
        ({"normalization": {"mean": [0.5] * 3}}, "needs mean and std"),
        ({"out_dim": 64}, "out_dim=64, in_channels=3, which these weights do not have"),
    ],
)
def test_a_foreign_or_damaged_backbone_file_is_one_line(convnet_run, tmp_path, capsys, change, message):
    assert export(capsys, f"run_dir={convnet_run}")[0] == 0
    saved = torch.load(convnet_run / BACKBONE_FILE, weights_only=True)
    if change.get("format", "") is None:  # a Lightning checkpoint has a state_dict and no format
        saved.pop("format")
    else:
        saved |= change
    path = tmp_path / "other.pt"
    torch.save(saved, path)
    with pytest.raises(DamagedFile, match=message) as caught:
        load_backbone(path)
    assert str(caught.value).count("\n") == 0 and str(path) in str(caught.value)


@pytest.mark.parametrize(
    ("plant", "message"),
    [
        (lambda w: w.fill_(math.nan), "weights not finite: 1 tensor"),
        (lambda w: w.double() * 1e300, "beyond float32's range"),
        (lambda w: torch.nested.nested_tensor([w, w]), "not dense CPU data"),
        (lambda w: w.to(torch.complex64), "complex tensors"),
        (lambda w: w.to_sparse(), "not dense CPU data"),
    ],
)
def test_a_backbone_file_holds_what_an_export_writes(convnet_run, tmp_path, capsys, plant, message):
    """load_backbone checks the weights as a checkpoint's reader does: a NaN planted in an
    exported file loaded silently (red team 36)."""
    assert export(capsys, f"run_dir={convnet_run}")[0] == 0
    saved = torch.load(convnet_run / BACKBONE_FILE, weights_only=True)
    name = next(n for n, w in saved["state_dict"].items() if w.is_floating_point())
    saved["state_dict"][name] = plant(saved["state_dict"][name].clone())
    torch.save(saved, tmp_path / "other.pt")
    with pytest.raises(DamagedFile, match=message):
        load_backbone(tmp_path / "other.pt")


def test_out_in_another_run_folder_never_replaces_its_files(convnet_run, tmp_path, capsys):
    """out= into another run's folder: its own files are refused as the exported run's are (it
    once replaced another run's summary.json), a <name>.pt beside them is written."""
    other = tmp_path / "a=b"
    (other / "checkpoints").mkdir(parents=True)
    for name in ("config.yaml", "summary.json"):
        (other / name).write_bytes((convnet_run / name).read_bytes())
    before = (other / "summary.json").read_bytes()
    for out in (other / "summary.json", other / "checkpoints" / "last.ckpt", other / "embeddings.pt"):
        code, _, err = export(capsys, f"run_dir={convnet_run}", f"out={out}")
        assert code == 2 and (f"the run folder {other}" in err or "embeddings.pt" in err), err
    assert (other / "summary.json").read_bytes() == before and not (other / "checkpoints" / "last.ckpt").exists()
    assert export(capsys, f"run_dir={convnet_run}", f"out={other / 'mine.pt'}")[0] == 0
    sweep = tmp_path / "sweep"  # a sweep's folder: Hydra's multirun.yaml and the report's files are not ours
    sweep.mkdir()
    (sweep / "multirun.yaml").write_text("hydra: {}\n")
    code, _, err = export(capsys, f"run_dir={convnet_run}", f"out={sweep / 'multirun.yaml'}")
    assert code == 2 and "inside a sweep folder only" in err and (sweep / "multirun.yaml").read_text() == "hydra: {}\n"


def test_a_damaged_checkpoint_is_one_line_and_nothing_is_written(convnet_run, tmp_path, capsys):
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    for name in ("config.yaml", "summary.json", "checkpoints/last.prev.ckpt"):
        if (convnet_run / name).is_file():
            (run_dir / name).write_bytes((convnet_run / name).read_bytes())
    whole = (convnet_run / "checkpoints" / "last.ckpt").read_bytes()
    (run_dir / "checkpoints" / "last.ckpt").write_bytes(whole[: len(whole) // 2])
    code, _, err = export(capsys, f"run_dir={run_dir}")
    assert code == 1 and len(err.strip().splitlines()) == 1, err
    assert "checkpoints/last.ckpt" in err and "Traceback" not in err
    assert not (run_dir / BACKBONE_FILE).exists()


def test_a_run_in_use_is_not_written_into(convnet_run, capsys):
    with FolderLock(convnet_run):
        code, _, err = export(capsys, f"run_dir={convnet_run}", f"out={convnet_run / 'encoder.pt'}")
    assert code == 1 and "is in use by pid" in err and not (convnet_run / "encoder.pt").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        ([], r"run_dir: missing; a run's folder"),
        (["{run}"], r"^raft-export: \S+: not a setting of raft-export \(it takes run_dir=\.\.\., out=\.\.\."),
        (["run_dir={run}", "epochs=3"], r"^raft-export: epochs=3: not a setting of raft-export"),
        (["run_dir="], r"^raft-export: run_dir=: a run's folder"),
        (["run_dir={tmp}"], r"^raft-export: run_dir=\S+: not a run folder \(it needs config.yaml and summary.json\)"),
        (["run_dir={run}", "out={tmp}/no/such/x.pt"], r"^raft-export: out=\S+: the file to write .*folder must exist"),
        (["run_dir={run}", "out={tmp}"], r"^raft-export: out=\S+: a folder; name the file to write in it, e\.g\. out="),
        (["run_dir={run}", "out={run}/summary.json"], r"^raft-export: out=\S+: inside the run folder only"),
        (["run_dir={run}", "out={run}/embeddings.pt"], r"^raft-export: out=\S+: embeddings.pt is the linear eval"),
    ],
)
def test_a_bad_command_line_is_one_line_and_exit_2(convnet_run, tmp_path, capsys, args, message):
    args = [a.format(run=convnet_run, tmp=tmp_path) for a in args]
    code, _, err = export(capsys, *args)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert re.search(message, err), err


# --- record.keep_previous --------------------------------------------------------------------------


def test_a_finished_run_drops_last_prev_ckpt(convnet_run):
    last = convnet_run / "checkpoints" / "last.ckpt"
    assert last.is_file() and not previous_of(last).exists()


def test_keep_previous_keeps_it(tmp_path):
    run_dir = train_run(tmp_path / "run", "record.keep_previous=true")
    assert previous_of(run_dir / "checkpoints" / "last.ckpt").is_file()


def test_keep_previous_is_true_or_false(tmp_path):
    cfg = compose_run(*TINY, "record.keep_previous=maybe", run_dir=tmp_path)
    with pytest.raises(ConfigError, match="record.keep_previous='maybe': must be true or false"):
        check_config(cfg, {})
