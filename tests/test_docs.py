"""The README and the docs site cannot go stale: the site builds in strict mode (a broken link, an
anchor that does not exist or a page outside the nav fails it), every shell command shown is either
run by a named test or labelled with what it needs, and the README stays a short front door."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LABEL = re.compile(r"<!-- (tested|needs): (.+?) -->")
TEST_REF = re.compile(r"(tests/[\w/]+\.py)::(\w+)")


def shell_blocks(text: str) -> list[tuple[int, str | None]]:
    """(line number, the label after it or None) of every ```bash block of a Markdown page."""
    lines, blocks, i = text.splitlines(), [], 0
    while i < len(lines):
        if lines[i].strip() == "```bash":
            start = i + 1
            i += 1
            while i < len(lines) and lines[i].strip() != "```":
                i += 1
            after = next((line for line in lines[i + 1 : i + 3] if line.strip()), "")
            blocks.append((start, after.strip() if LABEL.fullmatch(after.strip()) else None))
        i += 1
    return blocks


def test_every_shell_command_is_tested_or_says_what_it_needs():
    unlabelled, unknown = [], []
    for page in PAGES:
        for line, label in shell_blocks(page.read_text()):
            where = f"{page.relative_to(ROOT)}:{line}"
            if label is None:
                unlabelled.append(where)
                continue
            kind, what = LABEL.fullmatch(label).groups()
            if kind == "tested":
                refs = TEST_REF.findall(what)
                if not refs:
                    unknown.append(f"{where}: {what}")
                for path, name in refs:
                    file = ROOT / path
                    if not file.is_file() or not re.search(rf"^def {name}\(", file.read_text(), re.M):
                        unknown.append(f"{where}: {path}::{name}")
    assert not unlabelled, f"bash blocks without <!-- tested: … --> or <!-- needs: … -->: {unlabelled}"
    assert not unknown, f"labels naming no existing test: {unknown}"


def test_the_label_check_sees_an_unlabelled_block_and_a_missing_test():
    page = "```bash\nraft-train\n```\n\ntext\n\n```bash\nraft-report\n```\n<!-- tested: tests/x.py::y -->\n"
    assert [label for _, label in shell_blocks(page)] == [None, "<!-- tested: tests/x.py::y -->"]


def test_the_readme_is_a_short_front_door_whose_links_resolve():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 250
    assert "make demo" in readme and "make test" in readme
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme)
    missing = [t for t in targets if not t.startswith("http") and not (ROOT / t).exists()]
    assert targets and not missing, f"README links to missing files: {missing}"


@pytest.mark.slow
def test_the_site_builds_in_strict_mode(tmp_path):
    """`make docs`: MkDocs with strict: true in mkdocs.yml (warnings are errors)."""
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"NO_MKDOCS_2_WARNING": "1", "PATH": "/usr/bin:/bin"},
    )
    assert built.returncode == 0, built.stdout + built.stderr
    assert (tmp_path / "site" / "index.html").is_file()


@pytest.mark.slow
def test_a_broken_link_fails_the_strict_build(tmp_path):
    """The strict build really fails on a dead link (a copy of the docs with one added)."""
    docs = tmp_path / "docs"
    subprocess.run(["cp", "-rL", str(ROOT / "docs"), str(docs)], check=True)
    (docs / "index.md").write_text((docs / "index.md").read_text() + "\n[gone](no-such-page.md)\n")
    config = (ROOT / "mkdocs.yml").read_text().replace("docs_dir: docs", f"docs_dir: {docs}")
    (tmp_path / "mkdocs.yml").write_text(config)
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "-f",
            str(tmp_path / "mkdocs.yml"),
            "--site-dir",
            str(tmp_path / "site"),
        ],
        capture_output=True,
        text=True,
        env={"NO_MKDOCS_2_WARNING": "1", "PATH": "/usr/bin:/bin"},
    )
    assert built.returncode != 0 and "no-such-page.md" in built.stdout + built.stderr


@pytest.mark.slow
def test_the_config_dir_recipe_runs_as_written(tmp_path):
    """docs/install.md's own-config recipe, its bash block run verbatim in an empty folder."""
    text = (ROOT / "docs" / "install.md").read_text()
    block = text[text.index("```bash\nmkdir -p my_conf") + len("```bash\n") :]
    block = block[: block.index("```")].replace("experiment=mine", "experiment=mine hydra.run.dir=run")
    bin_dir = Path(sys.executable).parent
    done = subprocess.run(
        ["bash", "-e", "-c", block],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "ok" and summary["max_epochs"] == 5


def test_the_configuration_table_lists_every_option_of_every_group():
    """docs/configuration.md's table of groups: each group's options as conf/ has them, no more."""
    conf = ROOT / "raft_lightning" / "conf"
    table = {}
    for line in (ROOT / "docs" / "configuration.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and re.fullmatch(r"`\w+`", cells[0]) and (conf / cells[0].strip("`")).is_dir():
            table[cells[0].strip("`")] = set(re.findall(r"`(\w+)`", cells[1]))
    groups = {p.name for p in conf.iterdir() if p.is_dir() and p.name not in ("hydra", "paths", "__pycache__")}
    assert set(table) == groups
    for group, listed in table.items():
        assert listed == {p.stem for p in (conf / group).glob("*.yaml")}, group
