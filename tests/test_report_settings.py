"""raft-report's input checks: a --config file against conf/report.yaml, and --compare's row names."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from raft_lightning.report.cli import DEFAULT_CONFIG, main, report
from raft_lightning.report.settings import RULES, problems
from tests.test_report import make_run, rows_of


def run_with_config(tmp_path, capsys, text: str) -> tuple[int, list[str]]:
    """raft-report on one run with ``text`` as --config, into an --out folder: status, stderr lines."""
    make_run(tmp_path / "sweep", "r0")
    (tmp_path / "report.yaml").write_text(text)
    status = main([str(tmp_path / "sweep"), "--out", str(tmp_path / "out"), "--config", str(tmp_path / "report.yaml")])
    return status, capsys.readouterr().err.strip().splitlines()


def leaves(node: dict, prefix: str = "") -> set[str]:
    """report.yaml's settings, dotted, down to the ones a rule checks whole (lists, paper's blocks)."""
    found = set()
    for key, value in node.items():
        dotted = f"{prefix}{key}"
        found |= leaves(value, f"{dotted}.") if isinstance(value, dict) and dotted not in RULES else {dotted}
    return found


def test_every_setting_of_report_yaml_has_a_rule_and_the_defaults_pass():
    defaults = OmegaConf.to_container(OmegaConf.load(DEFAULT_CONFIG))
    assert leaves(defaults) == set(RULES)
    assert problems(defaults, defaults) == []


BAD = {
    "collapse:\n  uniform_above: abc": "collapse.uniform_above='abc': expected a finite number below 0",
    "  sources: [bogus]": "collapse.sources=['bogus']: expected a non-empty list of uniform_projector, embeddings,",
    "table:\n  columns: [nonexistent]": "table.columns=['nonexistent']: expected a non-empty list of align,",
    "figures:\n  early_steps: -1": "figures.early_steps=-1: expected an integer ≥ 1",
    "  spectrum_epochs: 0": "figures.spectrum_epochs=0: expected an integer ≥ 1",
    "  cosine_bins: -3": "figures.cosine_bins=-3: expected an integer ≥ 1",
    "objective_order: [byol, 3]": "objective_order=['byol', 3]: expected a list of strings",
    "paper:\n  linear_acc: [{objective: byol, predictor: none, tangential: false, value: 20.9}]": (
        "paper.linear_acc[0].value=20.9: expected a string"
    ),
    "nonsense: 1": "nonsense=1: not a setting (the settings: collapse, table, figures, paper, objective_order)",
}


def test_each_bad_setting_is_one_line_and_nothing_is_written(tmp_path, capsys):
    text = "\n".join(BAD).replace("objective_order", "\nobjective_order")
    status, lines = run_with_config(tmp_path, capsys, text.replace("\n  sources", "\n  bogus: 1\n  sources"))
    assert status == 2 and not (tmp_path / "out").exists()
    assert len(lines) == len(BAD) + 1, lines
    for expected in BAD.values():
        assert sum(f"--config {tmp_path / 'report.yaml'}: {expected}" in line for line in lines) == 1, expected
    assert any("collapse.bogus=1: not a setting of collapse (the settings: collapse.uniform_above," in x for x in lines)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("- collapse\n- table\n", "expected a mapping of settings as in conf/report.yaml, found ['collapse', 'table']"),
        ("42\n", "expected a mapping of settings as in conf/report.yaml, found 42"),
        ("collapse: {uniform_above: [\n", "not valid YAML (line 2, column 1)"),
        ("collapse: 3\n", "collapse=3: expected a mapping of uniform_above, sources, embeddings_points"),
    ],
)
def test_a_file_that_is_no_mapping_of_settings_is_one_line(tmp_path, capsys, text, expected):
    status, lines = run_with_config(tmp_path, capsys, text)
    assert status == 2 and len(lines) == 1 and expected in lines[0], lines
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("threshold", ["0", "-0.0", "0.5"])
def test_a_collapse_threshold_no_row_can_pass_is_refused(tmp_path, capsys, threshold):
    status, lines = run_with_config(tmp_path, capsys, f"collapse: {{uniform_above: {threshold}}}\n")
    want = f": collapse.uniform_above={threshold}: expected a finite number below 0 (L_uniform is at most 0)"
    assert status == 2 and len(lines) == 1 and lines[0].endswith(want), lines


def test_good_settings_are_used(tmp_path, capsys):
    status, lines = run_with_config(tmp_path, capsys, "collapse: {uniform_above: -3}\ntable: {columns: [align]}\n")
    assert status == 0 and lines == []
    table = (tmp_path / "out" / "table1.md").read_text()
    assert "above -3 (conf/report.yaml)" in table and "| L_uniform |" not in table


def two_weights(root, objective="raft", betas=(0.1, 1.0)):
    for beta in betas:
        for seed in range(2):
            make_run(root, f"{objective}{beta}_{seed}", objective, "linear", seed=seed, beta=beta, align=beta + seed)


def test_compare_takes_every_label_table_1_prints(tmp_path, capsys, cfg):
    two_weights(tmp_path)  # Table 3 prints raft/linear twice; Table 1 once, for β = 1
    make_run(tmp_path, "p", "byol", "mlp", pipeline="a|b")  # printed escaped: (pipeline=a\|b)
    make_run(tmp_path, "q", "byol", "mlp", pipeline="plain")
    report(tmp_path, tmp_path, cfg)
    printed = [line.split(" | ")[0].removeprefix("| ") for line in rows_of(tmp_path / "table1.md")]
    assert "byol/mlp (pipeline=a\\|b)" in printed and "raft/linear" in printed
    for label in printed:
        assert main([str(tmp_path), "--compare", label, "raft/linear [α=1, β=0.1]"]) == 0, label
        assert capsys.readouterr().out.startswith(f"A = {label.replace(chr(92), '')}")
    assert main([str(tmp_path), "--compare", "raft/linear", "byol/mlp (pipeline=plain)"]) == 0
    assert "A = raft/linear [α=1, β=1] (2 seed(s))" in capsys.readouterr().out  # Table 1's row


def test_compare_refuses_a_label_that_two_rows_print(tmp_path, capsys):
    two_weights(tmp_path, "random")  # the baselines are all in Table 1: "random" twice
    two_weights(tmp_path, "simsiam", betas=(0.1, 0.5))  # Table 3 only: "simsiam/linear" twice
    both = {
        "random": "0 = random [α=1, β=0.1] and 1 = random [α=1, β=1]",
        "simsiam/linear": "2 = simsiam/linear [α=1, β=0.1] and 3 = simsiam/linear [α=1, β=0.5]",
    }
    for label, rows in both.items():
        assert main([str(tmp_path), "--compare", label, "0"]) == 2
        (line,) = capsys.readouterr().err.strip().splitlines()
        assert f"--compare: {label!r} is the label of more than one row ({rows}):" in line, line


def test_compare_refuses_a_row_with_itself(tmp_path, capsys):
    two_weights(tmp_path)
    for a, b in (("0", "0"), ("raft/linear", "0")):  # by index twice; by Table 1's label and its index
        assert main([str(tmp_path), "--compare", a, b]) == 2
        (line,) = capsys.readouterr().err.strip().splitlines()
        assert f"{a!r} and {b!r} name the same row" in line and "expected two different rows" in line, line


@pytest.fixture
def cfg():
    return OmegaConf.load(DEFAULT_CONFIG)


def test_compare_numbers_rows_as_the_tables_print_them(tmp_path, capsys):
    """Index i is Table 1's i-th printed row, then Table 3's rows Table 1 does not hold; a digit
    that is not ASCII (², ٣) is a name, refused in one line, not int()'s traceback."""
    two_weights(tmp_path)  # raft/linear at β = 0.1 (Table 3 only) and β = 1 (both tables)
    make_run(tmp_path, "b0", "byol", "mlp", seed=0)
    make_run(tmp_path, "b1", "byol", "mlp", seed=1)
    assert main([str(tmp_path), "--compare", "1", "2"]) == 0  # Table 1: byol/mlp, raft/linear; then β = 0.1
    out = capsys.readouterr().out
    assert out.startswith("A = raft/linear [α=1, β=1] (2 seed(s)), B = raft/linear [α=1, β=0.1]"), out
    for odd in ("²", "٣"):
        assert main([str(tmp_path), "--compare", odd, "0"]) == 2
        (line,) = capsys.readouterr().err.strip().splitlines()
        assert f"no row {odd!r}" in line, line


def test_a_sweep_at_one_other_weight_is_reported(tmp_path, cfg):
    """An objective run only at β = 0.1 (no β = 1 beside it) is Table 3's row, not left out of both."""
    two_weights(tmp_path, betas=(0.1,))
    written = report(tmp_path, tmp_path, cfg)
    assert tmp_path / "table3.md" in written and "raft/linear" in (tmp_path / "table3.md").read_text()


@pytest.mark.parametrize(
    "text, expected",
    [
        ("a: &x [1, 2]\nb: *x\n", "anchors and aliases (&name, *name) are not read"),
        ("collapse: {uniform_above: '${oc.env:HOME}'}\n", "collapse.uniform_above='${oc.env:HOME}': an interpolation"),
        ("just a string\n", "expected a mapping of settings as in conf/report.yaml, found 'just a string'"),
        ("1: 2\nnull: 3\n", "1: a key that is not a name"),
        (
            "figures: {cosine_bins: 100000000000}\n",
            "figures.cosine_bins=100000000000: expected an integer ≥ 1 and ≤ 10000",
        ),
        ("figures: {representation_bins: 100000000000}\n", "expected an integer ≥ 1 and ≤ 10000"),
        ("x: '" + "a" * 70_000 + "'\n", "bytes: expected a mapping of settings as in conf/report.yaml, under 64 KiB"),
    ],
)
def test_what_a_settings_file_may_not_hold_is_one_line(tmp_path, capsys, text, expected):
    status, lines = run_with_config(tmp_path, capsys, text)
    assert status == 2 and any(expected in line for line in lines) and not (tmp_path / "out").exists(), lines


@pytest.mark.parametrize("kind", ["fifo", "folder", "device"])
def test_a_settings_file_that_is_no_regular_file_is_one_line_not_a_hang(tmp_path, capsys, kind):
    """A named pipe would block the read for ever, /dev/zero never end it."""
    import os

    make_run(tmp_path / "sweep", "r0")
    path = {"fifo": tmp_path / "pipe.yaml", "folder": tmp_path / "dir.yaml", "device": Path("/dev/zero")}[kind]
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    status = main([str(tmp_path / "sweep"), "--out", str(tmp_path / "out"), "--config", str(path)])
    lines = capsys.readouterr().err.strip().splitlines()
    said = "a folder" if kind == "folder" else "not a regular file"
    assert status == 2 and len(lines) == 1 and f"{path}: {said}: expected a mapping" in lines[0], lines
    assert not (tmp_path / "out").exists()


def test_a_billion_laughs_settings_file_is_refused_before_it_is_built(tmp_path, capsys):
    """Nine-way aliases nested twelve deep: 9**12 values once built; refused from its events."""
    lines = ["a0: [x, x, x, x, x, x, x, x, x]"]
    lines[0] = "a0: &a0 [x, x, x, x, x, x, x, x, x]"
    for i in range(1, 13):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    status, err = run_with_config(tmp_path, capsys, "\n".join(lines) + "\n")
    assert status == 2 and len(err) == 1 and "anchors and aliases" in err[0], err


def test_one_spectrum_is_the_last_epochs(tmp_path, capsys):
    """figures.spectrum_epochs: 1 draws the last epoch's spectrum (it drew the first)."""
    from raft_lightning.report import training

    drawn = []
    real = training.ordered_colours
    run = make_run(tmp_path / "sweep", "r0", epochs=4)
    lines = ["epoch,network,layer,index,singular_value"]
    lines += [
        f"{e},online,{layer},{i},{1.0 / (i + 1)}"
        for e in (2, 4)
        for layer in ("backbone", "projector")
        for i in range(3)
    ]
    (run / "spectra.csv").write_text("\n".join(lines) + "\n")
    try:
        training.ordered_colours = lambda chosen: drawn.append(list(chosen)) or real(chosen)
        (tmp_path / "s.yaml").write_text("figures: {spectrum_epochs: 1}\n")
        assert (
            main([str(tmp_path / "sweep"), "--out", str(tmp_path / "out"), "--config", str(tmp_path / "s.yaml")]) == 0
        )
    finally:
        training.ordered_colours = real
    assert drawn == [[4]], drawn


def test_compare_into_a_closed_pipe_is_no_traceback(tmp_path):
    """raft-report --compare … | head: the reader gone, the command ends quietly with status 0."""
    import os
    import subprocess
    import sys

    two_weights(tmp_path)
    read, write = os.pipe()
    os.close(read)  # a reader that has already stopped reading
    try:
        done = subprocess.run(
            [sys.executable, "-m", "raft_lightning.report", str(tmp_path), "--compare", "0", "1"],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
        )
    finally:
        os.close(write)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
