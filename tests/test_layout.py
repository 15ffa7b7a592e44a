"""The architecture as the folder tree states it: imports go one way, no circles, files a reader
can hold. Read from the source with ``ast`` (lazy imports inside functions count too)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGE = ROOT / "raft_lightning"
ENTRY_POINTS = (
    "raft_lightning.train",
    "raft_lightning.linear_eval",
    "raft_lightning.report.cli",
    "raft_lightning.theory.cli",
    "raft_lightning.export.cli",
)
# package → what it must never import: report and evaluation read files or take modules.
FORBIDDEN = {
    "raft_lightning.report": ("raft_lightning.run", "raft_lightning.objectives", "raft_lightning.theory"),
    "raft_lightning.evaluation": ("raft_lightning.run", "raft_lightning.objectives", "raft_lightning.report"),
    "raft_lightning.losses": ("raft_lightning.",),
    "raft_lightning.metrics": ("raft_lightning.",),
    "raft_lightning.contracts": ("raft_lightning.",),
    "raft_lightning.values": ("raft_lightning.",),
    "raft_lightning.measures": ("raft_lightning.",),
    "raft_lightning.files": ("raft_lightning.",),
    "raft_lightning.summary": ("raft_lightning.run", "raft_lightning.report", "raft_lightning.objectives"),
    # Run folders are read by what trains, evaluates and reports: the readers know none of them.
    "raft_lightning.readers": (
        "raft_lightning.run",
        "raft_lightning.report",
        "raft_lightning.objectives",
        "raft_lightning.callbacks",
        "raft_lightning.data",
        "raft_lightning.evaluation",
    ),
    "raft_lightning.lock": ("raft_lightning.run", "raft_lightning.report"),
    # load_backbone builds a network from a file: models and readers, nothing that trains.
    "raft_lightning.export.backbone": (
        "raft_lightning.run",
        "raft_lightning.objectives",
        "raft_lightning.data",
        "raft_lightning.callbacks",
    ),
    "raft_lightning.models": ("raft_lightning.objectives", "raft_lightning.callbacks", "raft_lightning.run"),
    "raft_lightning.objectives": ("raft_lightning.callbacks", "raft_lightning.run", "raft_lightning.data"),
    "raft_lightning.callbacks": ("raft_lightning.objectives", "raft_lightning.run"),
    "raft_lightning.data": ("raft_lightning.objectives", "raft_lightning.callbacks", "raft_lightning.run"),
}
MAX_LINES = 300


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The package modules ``path`` imports (``from a import b`` counts a.b when that is a module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        found |= {n for n in names if n in modules}
    return found


def graph() -> dict[str, set[str]]:
    paths = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: imports_of(path, set(paths)) - {name} for name, path in paths.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every cycle reachable by depth-first search (each reported once, from its first module)."""
    found, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                found.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    return found


def test_no_import_circles():
    assert cycles(graph()) == []


def test_the_cycle_finder_sees_a_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]


def test_nothing_imports_an_entry_point():
    importers = {
        module: sorted(i for i in imported if i in ENTRY_POINTS)
        for module, imported in graph().items()
        if not module.endswith(".__main__")  # `python -m raft_lightning.report` hands over to report.cli
    }
    assert {m: i for m, i in importers.items() if i} == {}


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_go_one_way(package):
    bad = {
        module: sorted(i for i in imported if i.startswith(FORBIDDEN[package]))
        for module, imported in graph().items()
        if module == package or module.startswith(package + ".")
    }
    assert {m: i for m, i in bad.items() if i} == {}


@pytest.mark.parametrize("folder", ["raft_lightning", "experiments"])
def test_no_file_is_longer_than_a_reader_can_hold(folder):
    long = {
        str(p.relative_to(ROOT)): n
        for p in (ROOT / folder).rglob("*.py")
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


WRITES_SUMMARY = re.compile(
    r"(write_json|write_text|write_atomically|open)\([^)]*(SUMMARY_FILE|summary\.json)"
    r"|(SUMMARY_FILE|summary\.json\"\))\.write"
)
# A write that is not files.write_atomically: a reader could see half of it, a full disk keep none.
RAW_WRITE = re.compile(r"\.write_(text|bytes)\(|open\([^)]*[\"'][wax]b?\+?[\"']|torch\.save\(|savefig\((?!buffer)")
RAW_WRITERS = {  # the places allowed to write without it, and why
    "raft_lightning.files",  # write_atomically itself, and save_tensors into memory
    "raft_lightning.run.checkpoints",  # checkpoints: the same temp-fsync-rename, streamed (they are large)
    "raft_lightning.lock",  # the lock file: flock needs the file itself
}


def test_summary_json_has_one_writer():
    """One place writes summary.json: RunRecord.save (the record's other methods call it)."""
    writers = {
        f"{module_name(path)}:{n}"
        for path in PACKAGE.rglob("*.py")
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if WRITES_SUMMARY.search(line)
    }
    assert len(writers) == 1 and next(iter(writers)).startswith("raft_lightning.run.record:"), writers


def test_every_file_is_written_atomically():
    raw = {
        f"{module_name(path)}:{n}"
        for path in PACKAGE.rglob("*.py")
        if module_name(path) not in RAW_WRITERS
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if RAW_WRITE.search(line) and not line.lstrip().startswith("#")
    }
    assert raw == set()


def test_the_raw_write_pattern_sees_raw_writes():
    for line in ('path.write_text("x")', 'open(path, "w")', "open(p, 'ab')", "torch.save(obj, path)", "fig.savefig(p)"):
        assert RAW_WRITE.search(line), line
    assert not RAW_WRITE.search("fig.savefig(buffer, format='png')") and not RAW_WRITE.search("open(path)")


def test_the_writer_pattern_sees_a_second_writer():
    assert WRITES_SUMMARY.search("write_json(run_dir / SUMMARY_FILE, summary)")
    assert WRITES_SUMMARY.search('(run_dir / "summary.json").write_text(text)')
    assert not WRITES_SUMMARY.search("summary = read_summary(run_dir / SUMMARY_FILE)")
