"""The one reader of run folders (raft_lightning.readers), as properties: whatever bytes a file
holds — truncated, random, of wrong types, NaN, missing or extra keys, odd labels — reading it
either gives what its writer wrote or raises one ``DamagedFile`` naming the file; never another
exception, never code run; and the report over such a folder lists the run and still writes."""

from __future__ import annotations

import io
import json
import math
import pickle
from pathlib import Path

import pytest
import torch
import yaml
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf

from raft_lightning import files
from raft_lightning.callbacks.epoch_metrics import write_csv
from raft_lightning.files import EMBEDDINGS_FILE, RUN_DIR_MARK, SPECTRA_FILE, STEPS_FILE, write_atomically
from raft_lightning.measures import MEASURES, summarised
from raft_lightning.readers import (
    DamagedFile,
    expected_runs,
    portable,
    read_checkpoint,
    read_config,
    read_embeddings,
    read_epochs,
    read_spectra,
    read_steps,
    read_summary,
    unlike_its_config,
    unlike_its_epochs,
    untrusted_targets,
)
from raft_lightning.report.cli import DEFAULT_CONFIG, report
from raft_lightning.report.rows import load_run
from raft_lightning.summary import problems

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
GOOD_SUMMARY = {
    "objective": "byol", "variant": None, "predictor": "mlp", "negate_init": False, "backbone": "convnet",
    "data": "synthetic", "seed": 0, "alpha": 1.0, "beta": 1.0, "tangential": False, "tau": 0.99,
    "tau_schedule": "constant", "lr": 0.0003, "batch_size": 32, "max_epochs": 2, "tags": [], "image_size": 16,
    "pipeline": "torchvision", "epochs": 2, "align": 0.5, "uniform": -2.0, "probe_acc": 0.25, "knn_acc": 0.5,
    "linear_acc": 0.5, "status": "ok", "error": None, "checkpoint": "checkpoints/last.ckpt",
}  # fmt: skip
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def _only_damaged(read, *args):
    """Call a reader: its value, or None when it raised DamagedFile; any other exception fails."""
    try:
        return read(*args)
    except DamagedFile as e:
        assert str(e.path) in str(e) and "expected" in str(e)
        return None


# --- summary.json -------------------------------------------------------------------------------


@SETTINGS
@given(data=st.binary(max_size=300))
def test_summary_random_bytes_are_damage_not_a_crash(tmp_path, data):
    write(tmp_path / "summary.json", data)
    _only_damaged(read_summary, tmp_path)


@SETTINGS
@given(cut=st.integers(min_value=0, max_value=len(json.dumps(GOOD_SUMMARY)) - 1))
def test_a_truncated_summary_is_damaged(tmp_path, cut):
    write(tmp_path / "summary.json", json.dumps(GOOD_SUMMARY)[:cut])
    with pytest.raises(DamagedFile, match="summary.json"):
        read_summary(tmp_path)


@SETTINGS
@given(key=st.sampled_from(sorted(GOOD_SUMMARY)), value=JSON_VALUES)
def test_any_value_of_any_key_is_read_or_named(tmp_path, key, value):
    write(tmp_path / "summary.json", json.dumps({**GOOD_SUMMARY, key: value}))
    read = _only_damaged(read_summary, tmp_path)
    if read is None:
        assert problems({**GOOD_SUMMARY, key: value})
    else:  # what is read is what the schema allows: no NaN result, no wrong type downstream
        for name in ("align", "uniform", "probe_acc", "knn_acc", "linear_acc"):
            assert read[name] is None or math.isfinite(read[name])


def test_nan_wrong_types_and_missing_keys_are_named(tmp_path):
    cases = {
        "linear_acc": float("nan"), "seed": "zero", "status": "done", "tags": "a,b", "alpha": "1", "epochs": 1.5,
        "checkpoint": "/etc/passwd",
    }  # fmt: skip
    for key, value in cases.items():
        write(tmp_path / key / "summary.json", json.dumps({**GOOD_SUMMARY, key: value}))
        with pytest.raises(DamagedFile, match=key):
            read_summary(tmp_path / key)
    write(tmp_path / "extra" / "summary.json", json.dumps({**GOOD_SUMMARY, "from_the_future": 1}))
    assert read_summary(tmp_path / "extra")["from_the_future"] == 1  # a newer version may write more
    write(tmp_path / "diverged" / "summary.json", json.dumps({**GOOD_SUMMARY, "status": "diverged", "align": math.nan}))
    assert math.isnan(read_summary(tmp_path / "diverged")["align"])  # a diverged run's NaN is its result
    write(tmp_path / "deep" / "summary.json", "[" * 100_000 + "]" * 100_000)
    with pytest.raises(DamagedFile, match="not JSON"):
        read_summary(tmp_path / "deep")


# --- metrics.csv --------------------------------------------------------------------------------


@SETTINGS
@given(text=st.text(max_size=200))
def test_metrics_csv_of_any_text_is_read_or_named(tmp_path, text):
    write(tmp_path / "metrics.csv", text)
    rows = _only_damaged(read_epochs, tmp_path)
    assert rows is None or all(isinstance(v, float) for row in rows for v in row.values())


def test_metrics_csv_damage_is_named_with_its_line(tmp_path):
    good = "epoch,step,train/align\n1,4,0.5\n2,8,0.4\n"
    assert read_epochs(write(tmp_path / "a" / "metrics.csv", good).parent) == [
        {"epoch": 1.0, "step": 4.0, "train/align": 0.5},
        {"epoch": 2.0, "step": 8.0, "train/align": 0.4},
    ]
    for name, text, match in [
        ("short", good + "3,12\n", "line 4 has 2 cells"),
        ("cut", good[:-3], "cut off mid-row"),  # "2,8,0" would parse: 0.4 read as 0
        ("word", good.replace("0.4", "zero"), "line 3, train/align='zero' is not a number"),
        ("nul", good.replace("0.4", "0\0"), "metrics.csv"),
        ("header", "epoch,epoch\n1,2\n", "distinct names"),
        ("repeated", good + "2,8,0.4\n", "line 4, epoch 2 does not increase"),  # a row written twice
        ("backwards", good + "1,12,0.3\n", "line 4, epoch 1 does not increase"),
        ("binary", b"\xff\xfe\x00", "not UTF-8"),
    ]:
        with pytest.raises(DamagedFile, match=match):
            read_epochs(write(tmp_path / name / "metrics.csv", text).parent)


# --- summary.json against metrics.csv ----------------------------------------------------------

SERIES = sorted({m.series for m in MEASURES if m.series})
NUMBER = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, width=64)


def written_run(run_dir: Path, rows: list[dict[str, float]], window: int) -> dict:
    """metrics.csv by its writer, and the record as RunRecord.save writes the results it
    summarises from the same rows (measures.summarised); the record as read back."""
    write_csv(run_dir / "metrics.csv", rows)
    record = {"status": "ok", "epochs": len(rows), "last_epochs": window, **summarised(rows, window)}
    write(run_dir / "summary.json", json.dumps(record, indent=2, default=str, allow_nan=True) + "\n")
    return json.loads((run_dir / "summary.json").read_text())


@SETTINGS
@given(data=st.data(), epochs=st.integers(1, 8), window=st.integers(1, 10))
def test_a_record_agrees_with_its_epochs_as_written_and_a_one_ulp_edit_of_either_is_named(
    tmp_path, data, epochs, window
):
    """The property the published results stand on (issue 23): whatever the numbers, a record
    and its metrics.csv as their writers leave them agree exactly, and moving one number of
    either by one ulp, where it counts, is named with its key."""
    rows = [
        {"epoch": float(e), **{s: data.draw(NUMBER) for s in SERIES if data.draw(st.booleans())}}
        for e in range(1, epochs + 1)
    ]
    run_dir = tmp_path / f"run{len(list(tmp_path.iterdir()))}"
    summary = written_run(run_dir, rows, window)
    assert unlike_its_epochs(summary, read_epochs(run_dir), window) == []
    measured = [m for m in MEASURES if m.series and summary.get(m.key) is not None]
    assume(measured)
    measure = data.draw(st.sampled_from(measured))
    edited = dict(summary, **{measure.key: math.nextafter(summary[measure.key], math.inf)})
    assert unlike_its_epochs(edited, read_epochs(run_dir), window) == [
        f"{measure.key} {edited[measure.key]!r} against {summary[measure.key]!r}"
    ]
    last = max(i for i, row in enumerate(rows) if measure.series in row)  # counts for last and window
    rows[last][measure.series] = math.nextafter(rows[last][measure.series], -math.inf)
    write_csv(run_dir / "metrics.csv", rows)
    named = measure.key in " ".join(unlike_its_epochs(summary, read_epochs(run_dir), window))
    # A mean can absorb one ulp of one of its terms: named exactly where the edit changes the result.
    assert named == (summarised(rows, window)[measure.key] != summary[measure.key])
    assert named or measure.how == "window"


def test_what_a_record_and_its_epochs_are_not_compared_on(tmp_path):
    rows = [{"epoch": 1.0, "train/uniform": -1.0, "val/knn_acc": 0.5}, {"epoch": 2.0, "train/uniform": -2.0}]
    summary = written_run(tmp_path, rows, 2)
    assert unlike_its_epochs(summary, rows[:1], 2) == ["epochs 2 against 1 rows", "uniform -1.5 against -1.0"]
    assert unlike_its_epochs(summary | {"status": "running"}, rows[:1], 2) == []  # rows come before the record
    assert unlike_its_epochs(summary, None, 2) == []  # no metrics.csv (never trained): nothing to compare
    assert unlike_its_epochs(summary, [], 2) == ["epochs 2 against no rows"]  # emptied to its header
    older = summary | {"uniform": 7.0}  # a window not recorded: the window's results are not compared
    assert unlike_its_epochs(older, rows, None) == [] and unlike_its_epochs(older, rows, 2) != []


def test_the_report_names_a_record_that_is_not_its_epochs(tmp_path):
    rows = [{"epoch": 1.0, "train/align": 0.5, "train/uniform": -1.0}]
    record = GOOD_SUMMARY | {"epochs": 1, "last_epochs": 1, "probe_acc": None, "knn_acc": None}
    write(tmp_path / "run" / "summary.json", json.dumps(record | summarised(rows, 1)))
    write_csv(tmp_path / "run" / "metrics.csv", rows)
    assert load_run(tmp_path / "run").problem is None or "metrics.csv" not in load_run(tmp_path / "run").problem
    write_csv(tmp_path / "run" / "metrics.csv", [{"epoch": 1.0, "train/align": 0.5, "train/uniform": -1.25}])
    assert load_run(tmp_path / "run").problem.endswith(
        "summary.json is not what metrics.csv gives: uniform -1.0 against -1.25"
    )
    write(tmp_path / "run" / "metrics.csv", "epoch,train/align\n")  # emptied to its header
    assert load_run(tmp_path / "run").problem.endswith(
        "summary.json is not what metrics.csv gives: epochs 1 against no rows"
    )
    write(tmp_path / "run" / "metrics.csv", "epoch,train/align\n1,zero\n")  # damaged: named once, as damage
    problem = load_run(tmp_path / "run").problem
    assert "is not a number" in problem and "against no rows" not in problem


@pytest.mark.parametrize(
    "said, given, named",
    [
        (10**400, 0.0, True),  # a record's huge int: named, not an OverflowError (red team 40)
        (False, 0.0, True),  # a bool is no number
        (None, 0.0003, True),  # a null on one side only
        (7, 7.0, False),  # an int and its float are one setting
    ],
)
def test_a_setting_is_compared_exactly_and_never_raises(said, given, named):
    assert bool(unlike_its_config({"lr": said}, {"optimizer.lr": given})) is named
    assert unlike_its_config({"tau": None}, {"teacher.tau": 0.99}) == []  # no teacher used: none recorded
    assert unlike_its_config({}, {"optimizer.lr": 1.0}) == unlike_its_config({"lr": 1.0}, {}) == []  # older files


def test_the_report_names_a_record_whose_settings_are_not_its_configs(tmp_path):
    record = GOOD_SUMMARY | {"epochs": 0, "last_epochs": 10}
    config = {
        "seed": 0,
        "loss": {"alpha": 1.0, "beta": 1.0},
        "optimizer": {"lr": 0.0003},
        "record": {"last_epochs": 10},
    }
    write(tmp_path / "run" / "summary.json", json.dumps(record))
    write(tmp_path / "run" / "config.yaml", yaml.safe_dump(config))
    assert load_run(tmp_path / "run").problem is None
    write(tmp_path / "run" / "summary.json", json.dumps(record | {"lr": 0.003, "seed": 1, "beta": 1}))
    assert load_run(tmp_path / "run").problem == (
        "summary.json is not what config.yaml says: seed 1 against seed=0.0, lr 0.003 against optimizer.lr=0.0003"
    )


# --- spectra.csv, steps.csv (callbacks.monitors) -------------------------------------------------

GOOD_SPECTRA = "epoch,network,layer,index,singular_value\n" + "".join(
    f"{e},{n},{layer},{i},{v}\n"
    for e in (0, 1)
    for n in ("online", "target")
    for layer in ("backbone", "projector")
    for i, v in enumerate((3.0, 1.5, 0.0))
)
GOOD_STEPS = (
    "step,epoch,train_step/loss,train_step/align,train_step/uniform,train_step/predictor_identity_distance\n"
    "0,0,1.5,0.2,-0.5,0.0\n1,0,1.4,0.2,-0.6,0.01\n50,1,1.0,0.1,-1.0,\n"
)


@SETTINGS
@given(text=st.text(max_size=200))
def test_spectra_csv_of_any_text_is_read_or_named(tmp_path, text):
    write(tmp_path / SPECTRA_FILE, text)
    spectra = _only_damaged(read_spectra, tmp_path)
    assert spectra is None or all(
        network in ("online", "target") and layer in ("backbone", "projector") and all(v >= 0 for v in values)
        for (network, layer), epochs in spectra.items()
        for values in epochs.values()
    )


@SETTINGS
@given(cut=st.integers(min_value=0, max_value=len(GOOD_SPECTRA) - 1), data=st.binary(max_size=40))
def test_spectra_csv_cut_or_spliced_is_read_or_named(tmp_path, cut, data):
    write(tmp_path / SPECTRA_FILE, GOOD_SPECTRA.encode()[:cut] + data)
    _only_damaged(read_spectra, tmp_path)


def test_spectra_csv_as_written_and_its_damage_named(tmp_path):
    spectra = read_spectra(write(tmp_path / "a" / SPECTRA_FILE, GOOD_SPECTRA).parent)
    assert set(spectra) == {(n, layer) for n in ("online", "target") for layer in ("backbone", "projector")}
    assert spectra["online", "projector"] == {0: [3.0, 1.5, 0.0], 1: [3.0, 1.5, 0.0]}
    assert read_spectra(tmp_path / "none") == {}
    for name, text, match in [
        ("header", GOOD_SPECTRA.replace("singular_value", "sigma"), "header"),
        ("network", GOOD_SPECTRA.replace("target", "teacher"), "network/layer 'teacher'"),
        ("negative", GOOD_SPECTRA.replace(",1.5", ",-1.5"), "singular_value='-1.5'"),
        ("nan", GOOD_SPECTRA.replace(",1.5", ",nan"), "singular_value='nan'"),
        ("index", GOOD_SPECTRA.replace("backbone,1,", "backbone,x,"), "index='x' is not an integer"),
        ("gap", GOOD_SPECTRA.replace("projector,1,", "projector,7,"), "indices not 0..k-1"),
        ("repeat", GOOD_SPECTRA.replace("projector,1,", "projector,0,"), "repeats index 0"),
        ("short", GOOD_SPECTRA + "2,online\n", "has 2 cells"),
        ("binary", b"\xff\xfe\x00", "not UTF-8"),
    ]:
        with pytest.raises(DamagedFile, match=match) as caught:
            read_spectra(write(tmp_path / name / SPECTRA_FILE, text).parent)
        assert SPECTRA_FILE in str(caught.value)


@SETTINGS
@given(text=st.text(max_size=200))
def test_steps_csv_of_any_text_is_read_or_named(tmp_path, text):
    write(tmp_path / STEPS_FILE, text)
    rows = _only_damaged(read_steps, tmp_path)
    assert rows is None or all(isinstance(row["step"], float) for row in rows)


def test_steps_csv_as_written_and_its_damage_named(tmp_path):
    rows = read_steps(write(tmp_path / "a" / STEPS_FILE, GOOD_STEPS).parent)
    assert [row["step"] for row in rows] == [0, 1, 50] and "train_step/predictor_identity_distance" not in rows[2]
    assert read_steps(tmp_path / "none") == []
    for name, text, match in [
        ("order", GOOD_STEPS.replace("\n50,", "\n1,"), "step 1 does not increase"),
        ("nostep", GOOD_STEPS.replace("\n1,0,", "\n,0,"), "line 3 has no step"),
        ("word", GOOD_STEPS.replace("1.4", "high"), "is not a number"),
        ("short", GOOD_STEPS + "60,1\n", "line 5 has 2 cells"),
    ]:
        with pytest.raises(DamagedFile, match=match) as caught:
            read_steps(write(tmp_path / name / STEPS_FILE, text).parent)
        assert STEPS_FILE in str(caught.value) and "callbacks.monitors" in str(caught.value)


# --- config.yaml --------------------------------------------------------------------------------


def test_config_is_read_never_resolved_and_paths_follow_the_folder(tmp_path):
    run = tmp_path / "old place"
    container = {"paths": {"output_dir": str(run)}, "callbacks": {"ckpt": {"dirpath": f"{run}/checkpoints"}}, "x": 1}
    saved = portable(container, run)
    assert saved["paths"]["output_dir"] == RUN_DIR_MARK and saved["callbacks"]["ckpt"]["dirpath"].startswith("<run")
    moved = tmp_path / "new place"
    write(moved / "config.yaml", OmegaConf.to_yaml(OmegaConf.create(saved)))
    cfg = read_config(moved)
    assert cfg.paths.output_dir == str(moved) and cfg.callbacks.ckpt.dirpath == f"{moved}/checkpoints"
    for name in ["it's ${x}", "a\\${y}", "b\\\\${z} c\\"]:  # a folder's name is a name, not an interpolation
        write(tmp_path / name / "run" / "config.yaml", OmegaConf.to_yaml(OmegaConf.create(saved)))
        cfg = OmegaConf.to_container(read_config(tmp_path / name / "run"), resolve=True)
        assert cfg["callbacks"]["ckpt"]["dirpath"] == f"{tmp_path / name / 'run'}/checkpoints"
    write(tmp_path / "interp" / "config.yaml", "a: ${oc.env:HOME}\nb: {c: '${run_id:/tmp/x}'}\n")
    with pytest.raises(DamagedFile, match="interpolations at a, b.c"):
        read_config(tmp_path / "interp")
    for name, text in [("list", "- 1\n- 2\n"), ("yaml", "a: [\n"), ("bytes", b"\xff"), ("text", "just text")]:
        with pytest.raises(DamagedFile, match="config.yaml"):
            read_config(write(tmp_path / name / "config.yaml", text).parent)


@SETTINGS
@given(text=st.text(max_size=200))
def test_config_of_any_text_is_read_or_named(tmp_path, text):
    write(tmp_path / "config.yaml", text)
    _only_damaged(read_config, tmp_path)


def test_targets_outside_the_package_are_named_at_any_depth():
    cfg = {
        "loss": {"_target_": "raft_lightning.objectives.BYOL"},
        "data": {"augment": {"x": [{"_target_": "os.system", "_args_": ["id"]}]}},
        "model": {"backbone": {"_target_": "builtins.eval"}},
    }
    found = untrusted_targets(cfg)
    assert found == ["data.augment.x[0]._target_='os.system'", "data.augment.x[0]._args_=['id']",
                     "model.backbone._target_='builtins.eval'"]  # fmt: skip
    assert untrusted_targets(cfg, {"os.system", "builtins.eval"}) == ["data.augment.x[0]._args_=['id']"]


@pytest.mark.parametrize("target", ["[os.system]", "{a: os.system}"])
def test_a_target_that_is_not_a_name_is_damage_never_a_traceback(tmp_path, target):
    """A list or mapping cannot be hashed against the trusted names: one line, config.yaml named."""
    write(tmp_path / "config.yaml", f"loss:\n  _target_: {target}\n  alpha: 1.0\n")
    with pytest.raises(DamagedFile, match=r"config.yaml: loss._target_=.* a dotted name"):
        read_config(tmp_path)
    value = yaml.safe_load(target)
    assert untrusted_targets({"loss": {"_target_": value}}) == [f"loss._target_={value!r}"]


# --- tensor files -------------------------------------------------------------------------------


class Planted:
    """A pickle that would run code on load."""

    def __reduce__(self):
        return (Path.touch, (Path(MARKER),))


MARKER = "/tmp/raft-lightning-test-planted-marker"


def test_a_planted_pickle_is_refused_and_runs_nothing(tmp_path):
    Path(MARKER).unlink(missing_ok=True)
    torch.save({"state_dict": {"w": torch.zeros(1)}, "x": Planted()}, tmp_path / "last.ckpt")
    with pytest.raises(DamagedFile, match="other than tensors"):
        read_checkpoint(tmp_path / "last.ckpt")
    torch.save({"projections": Planted(), "labels": torch.zeros(2)}, tmp_path / EMBEDDINGS_FILE)
    with pytest.raises(DamagedFile):
        read_embeddings(tmp_path)
    write(tmp_path / "plain.ckpt", pickle.dumps(Planted()))
    with pytest.raises(DamagedFile):
        read_checkpoint(tmp_path / "plain.ckpt")
    assert not Path(MARKER).exists()


def _tensor_file(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


GOOD_PROJECTIONS, GOOD_LABELS = torch.randn(8, 4, generator=torch.Generator().manual_seed(0)), torch.arange(8) % 3
GOOD_EMBEDDINGS = _tensor_file({"projections": GOOD_PROJECTIONS, "labels": GOOD_LABELS})


@SETTINGS
@given(cut=st.integers(min_value=0, max_value=len(GOOD_EMBEDDINGS) - 1), flip=st.integers(0, 255))
def test_damaged_embeddings_are_named(tmp_path, cut, flip):
    """Cut after any byte, which is then replaced: named damage, or (where the change falls on a
    byte the zip format does not check, such as the archive comment's length at the very end)
    exactly what was written."""
    data = bytearray(GOOD_EMBEDDINGS[:cut]) + bytes([flip])
    assume(bytes(data) != GOOD_EMBEDDINGS)  # the last byte "replaced" by itself: the file is whole
    write(tmp_path / EMBEDDINGS_FILE, bytes(data))
    try:
        projections, labels = read_embeddings(tmp_path)
    except DamagedFile as e:
        assert EMBEDDINGS_FILE in str(e)
        return
    assert torch.equal(projections, GOOD_PROJECTIONS) and torch.equal(labels, GOOD_LABELS)


@pytest.mark.parametrize(
    "obj",
    [
        {"projections": torch.full((4, 3), math.nan), "labels": torch.zeros(4, dtype=torch.long)},
        {"projections": torch.randn(4, 3), "labels": torch.zeros(5, dtype=torch.long)},
        {"projections": torch.randn(4), "labels": torch.zeros(4, dtype=torch.long)},
        {"projections": torch.randn(4, 3), "labels": torch.zeros(4)},
        {"projections": torch.randn(0, 3), "labels": torch.zeros(0, dtype=torch.long)},
        {"labels": torch.zeros(4, dtype=torch.long)},
        [1, 2, 3],
    ],
)
def test_embeddings_of_other_contents_are_named(tmp_path, obj):
    write(tmp_path / EMBEDDINGS_FILE, _tensor_file(obj))
    with pytest.raises(DamagedFile, match="other contents"):
        read_embeddings(tmp_path)


def test_a_broken_multirun_yaml_is_named(tmp_path):
    for name, text in [("garbage", "hydra: [\n"), ("no_hydra", "a: 1\n"), ("huge", _huge_sweep())]:
        with pytest.raises(DamagedFile, match="multirun.yaml"):
            expected_runs(write(tmp_path / name / "multirun.yaml", text).parent)


def _huge_sweep() -> str:
    return (
        "hydra:\n  sweeper:\n    params: {seed: 'range(0,1000000)', x: 'range(0,1000)'}\n  overrides:\n    task: []\n"
    )


# --- the report over damaged folders --------------------------------------------------------------


DAMAGE = st.tuples(
    st.sampled_from(["summary.json", "metrics.csv", EMBEDDINGS_FILE, SPECTRA_FILE, STEPS_FILE]), st.binary(max_size=64)
)


@SETTINGS
@given(damage=st.lists(DAMAGE, min_size=1, max_size=3), label=st.text(min_size=1, max_size=12))
def test_the_report_lists_damaged_runs_and_still_writes(tmp_path_factory, damage, label):
    """Two good runs and one damaged one (any file, any bytes; an odd variant label): the report
    writes its table, averages the good runs only, and a row's label never breaks the table."""
    root = tmp_path_factory.mktemp("sweep")
    for seed in (0, 1):
        write(root / f"good{seed}" / "summary.json", json.dumps({**GOOD_SUMMARY, "seed": seed, "variant": label}))
        write(root / f"good{seed}" / "metrics.csv", "epoch,train/align,train/uniform\n1,0.5,-2\n2,0.4,-2.1\n")
    bad = root / "bad"
    write(bad / "summary.json", json.dumps({**GOOD_SUMMARY, "seed": 2, "variant": label}))
    for name, data in damage:
        write(bad / name, data)
    written = report(root, root, OmegaConf.load(DEFAULT_CONFIG))
    table = (root / "table1.md").read_text()
    assert root / "table1.md" in written
    body = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| model")]
    assert all(line.count(" | ") == body[0].count(" | ") for line in body)  # no label adds or splits a cell
    seeds = [line.split(" | ")[1] for line in body]
    assert seeds in (["2"], ["3"])  # the damaged run is averaged in only if its summary.json stayed readable


def test_a_failed_write_keeps_the_previous_file(tmp_path, monkeypatch):
    target = write(tmp_path / "table1.md", "the good table\n")
    real_fsync = __import__("os").fsync

    def full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("os.fsync", full)
    with pytest.raises(OSError, match="table1.md: no space left on the device; the previous version is kept"):
        write_atomically(target, "half")
    monkeypatch.setattr("os.fsync", real_fsync)
    assert target.read_text() == "the good table\n" and list(tmp_path.iterdir()) == [target]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(1, 4), failing=st.integers(0, 3), how=st.sampled_from(["folder", "full", "ok"]))
def test_files_written_together_are_all_written_or_none(tmp_path_factory, n, failing, how):
    """write_all_or_none: a folder in one file's place, or a full disk while one is written,
    changes none of them (claims.json and the pages that show it stay together); else all are new."""
    folder = tmp_path_factory.mktemp("together")
    paths = [folder / f"f{i}.md" for i in range(n)]
    for p in paths[::2]:
        p.write_text("old")
    bad = paths[failing % n]
    if how == "folder":
        bad.unlink(missing_ok=True)
        bad.mkdir()
    before = {p: p.read_bytes() if p.is_file() else None for p in paths}
    real = files.new_temp_beside

    def temp(path):
        f, tmp = real(path)
        if how == "full" and path == bad:
            f.close()
            tmp.unlink()
            raise OSError(28, "No space left on device")
        return f, tmp

    with pytest.MonkeyPatch.context() as m:
        m.setattr(files, "new_temp_beside", temp)
        if how == "ok":
            files.write_all_or_none({p: f"new {p.name}" for p in paths})
            assert all(p.read_text() == f"new {p.name}" for p in paths)
        else:
            with pytest.raises(files.NotWritten, match=f"cannot write {bad}: .*; nothing was written"):
                files.write_all_or_none({p: f"new {p.name}" for p in paths})
            assert {p: p.read_bytes() if p.is_file() else None for p in paths} == before
    assert not [p for p in folder.rglob("*") if p.name.endswith(files.TEMP_SUFFIX)]


def test_ctrl_c_during_the_renames_comes_after_all_of_them(tmp_path, monkeypatch):
    """A SIGINT arriving between two renames of write_all_or_none (red team 43 sent one there:
    some pages new, some stale) is held until the last rename, then raised as usual."""
    import os
    import signal

    paths = [tmp_path / f"f{i}.md" for i in range(3)]
    real, calls = os.replace, []

    def replace(src, dst):
        real(src, dst)
        calls.append(dst)
        if len(calls) == 1:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(KeyboardInterrupt):
        files.write_all_or_none({p: "new" for p in paths})
    assert [p.read_text() for p in paths] == ["new"] * 3


@pytest.mark.parametrize(
    "name", ["summary.json", "metrics.csv", "config.yaml", "embeddings.pt", "checkpoints/last.ckpt"]
)
def test_a_file_linked_out_of_its_run_folder_is_refused_not_read(tmp_path, name):
    run_dir, outside = tmp_path / "run", tmp_path / "elsewhere"
    (run_dir / "checkpoints").mkdir(parents=True)
    outside.write_text("{}")
    (run_dir / name).symlink_to(outside)
    read = {
        "summary.json": lambda: read_summary(run_dir),
        "metrics.csv": lambda: read_epochs(run_dir),
        "config.yaml": lambda: read_config(run_dir),
        "embeddings.pt": lambda: read_embeddings(run_dir),
        "checkpoints/last.ckpt": lambda: read_checkpoint(run_dir / name),
    }[name]
    with pytest.raises(DamagedFile, match="outside the run folder"):
        read()


def test_a_link_inside_the_folder_and_a_linked_folder_are_read(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (real / "metrics.csv").write_text("epoch,align\n1,0.5\n")
    (real / "copy.csv").symlink_to(real / "metrics.csv")
    (tmp_path / "link").symlink_to(real, target_is_directory=True)
    assert read_epochs(real, "copy.csv") == [{"epoch": 1.0, "align": 0.5}]
    assert read_epochs(tmp_path / "link") == [{"epoch": 1.0, "align": 0.5}]


def test_a_lock_that_is_a_link_is_refused_and_its_target_untouched(tmp_path):
    from raft_lightning.lock import FolderBusy, FolderLock

    victim = tmp_path / "precious.txt"
    victim.write_text("precious\n")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / ".lock").symlink_to(victim)
    with pytest.raises(FolderBusy, match="symbolic link"):
        FolderLock(tmp_path / "run").__enter__()
    assert victim.read_text() == "precious\n"


# --- names planted in a folder made by someone else ------------------------------------------------


@pytest.mark.parametrize("writer", ["write_atomically", "save_tensors", "checkpoint"])
def test_a_planted_temp_name_is_never_written_through(tmp_path, monkeypatch, writer):
    """A folder someone else made holds links where a writer's temp file would go (the pid-based
    name, and the next random one): the write lands in the folder as a regular file of its own
    and the link's target is untouched."""
    import os

    from raft_lightning.run.checkpoints import AtomicCheckpointIO

    run_dir, victim = tmp_path / "run", tmp_path / "precious.txt"
    run_dir.mkdir()
    victim.write_text("precious\n")
    tokens = iter(["0000aaaa", "0000bbbb"])
    monkeypatch.setattr(files.secrets, "token_hex", lambda n: next(tokens))
    name = "last.ckpt" if writer == "checkpoint" else "summary.json"
    for planted in (f"{name}.{os.getpid()}.tmp", f"{name}.{os.getpid()}.0000aaaa.tmp"):
        (run_dir / planted).symlink_to(victim)
    target = run_dir / name
    if writer == "write_atomically":
        files.write_atomically(target, "{}")
    elif writer == "save_tensors":
        files.save_tensors(target, {"w": torch.ones(2)})
    else:
        AtomicCheckpointIO().save_checkpoint({"state_dict": {"w": torch.ones(2)}}, target)
    assert victim.read_text() == "precious\n"
    assert target.is_file() and not target.is_symlink()


def test_a_full_disk_never_writes_a_record_in_place_through_a_link(tmp_path, monkeypatch):
    from raft_lightning.files import NotWritten

    victim = tmp_path / "precious.txt"
    victim.write_text("precious and long enough\n")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "summary.json").symlink_to(victim)

    def full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("os.fsync", full)
    with pytest.raises(NotWritten, match="no space left"):
        write_atomically(tmp_path / "run" / "summary.json", "{}", in_place_when_full=True)
    assert victim.read_text() == "precious and long enough\n"


@pytest.mark.parametrize("name", ["summary.json", "metrics.csv", "config.yaml", "embeddings.pt", SPECTRA_FILE])
@pytest.mark.parametrize("kind", ["folder", "fifo", "broken link"])
def test_a_record_that_is_not_a_file_is_named_never_a_crash(tmp_path, name, kind):
    import os

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    path = run_dir / name
    if kind == "folder":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)  # read, it would block the reader for ever
    else:
        path.symlink_to(run_dir / "gone")
    read = {
        "summary.json": read_summary,
        "metrics.csv": read_epochs,
        "config.yaml": read_config,
        "embeddings.pt": read_embeddings,
        SPECTRA_FILE: read_spectra,
    }[name]
    with pytest.raises(DamagedFile, match=f"{name}: (a folder|not a regular file|a broken link)"):
        read(run_dir)


def test_the_report_lists_a_run_whose_summary_is_a_folder_and_reports_the_others(tmp_path):
    write(tmp_path / "good" / "summary.json", json.dumps({**GOOD_SUMMARY, "seed": 0}))
    (tmp_path / "bad" / "summary.json").mkdir(parents=True)
    written = report(tmp_path, tmp_path / "out", OmegaConf.load(DEFAULT_CONFIG))
    assert tmp_path / "out" / "table1.md" in written
    assert "bad" in (tmp_path / "out" / "table1.md").read_text()


def test_a_sweeps_size_is_read_in_a_fresh_process_globs_included(tmp_path):
    """raft-report reads multirun.yaml in a process where Hydra never ran (a reader built on a
    process that had composed once worked in the tests and failed for every user: "No config
    source registered for schema pkg"); a glob is expanded over the configs it chose from, and
    where those are not here the size is unknown, not a count of nothing."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    variants = sorted(p.stem for p in (ROOT / "raft_lightning" / "conf" / "variant").glob("byol_p*.yaml"))
    pkg = [{"path": "raft_lightning.conf", "schema": "pkg", "provider": "main"}]
    gone = [*pkg, {"path": str(tmp_path / "gone"), "schema": "file", "provider": "command-line"}]
    cases = {
        "plain": (["seed=0,1", "loss=raft"], pkg, 2),
        "glob": (["variant=glob(byol_p*)", "seed=0,1"], pkg, 2 * len(variants)),
        "glob-exclude": (["variant=glob(byol_p*,exclude=byol_prime_l*)"], pkg, len(variants) - 2),
        "glob-folder-gone": (["variant=glob(my_*)"], gone, "unknown"),
        "glob-no-sources": (["variant=glob(byol_p*)"], None, "unknown"),
        "glob-matches-nothing": (["variant=glob(nothing_*)"], pkg, "unknown"),
    }
    for name, (task, sources, _) in cases.items():
        record = {"hydra": {"sweeper": {"params": None}, "overrides": {"task": task}, "runtime": {}}}
        record["hydra"]["runtime"]["config_sources"] = sources
        write(tmp_path / name / "multirun.yaml", yaml.safe_dump(record))
    code = (
        "import json, sys\nfrom raft_lightning.readers import SizeUnknown, expected_runs\nout = {}\n"
        "for name in sys.argv[2:]:\n"
        "    try: out[name] = expected_runs(sys.argv[1] + '/' + name)\n"
        "    except SizeUnknown: out[name] = 'unknown'\n"
        "print(json.dumps(out))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path), *cases], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout) == {name: expected for name, (_, _, expected) in cases.items()}


WORDS = st.lists(st.text(alphabet="ab:,", min_size=1, max_size=14), min_size=0, max_size=60).map(" ".join)


@example("x" * 300)  # one long word: cut where the limit falls
@given(WORDS)
def test_an_errors_first_line_is_shortened_at_a_words_end(message):
    """A library's long message (torch's can run to pages) is cut at a word's end, with an
    ellipsis saying so; a short one is kept whole."""
    from raft_lightning.readers.base import first_line

    line = first_line(ValueError(message))
    kept = message.strip().splitlines()[0] if message.strip() else ""
    if len(kept) <= 200:
        assert line == (f"ValueError: {kept}" if kept else "ValueError")
        return
    shown = line.removeprefix("ValueError: ")
    assert shown.endswith("…") and len(shown) <= 201
    body = shown[:-1]
    assert kept.startswith(body)
    if " " in kept[:200] and body:  # a word is never cut: a space or a separator came next
        assert kept[len(body)] in " ,;:"
