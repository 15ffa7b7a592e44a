"""``raft-export run_dir=RUN [out=FILE]`` (or ``python -m raft_lightning.export``): the online
backbone of a run's last checkpoint as a file of plain types (docs/export.md), by default
``RUN/backbone.pt``, loadable with ``torch.load(weights_only=True)``, into torchvision's ResNet-18
(for ``resnet18`` / ``resnet18_cifar``), or with ``raft_lightning.load_backbone``.

The folder is data (``raft_lightning.readers``): nothing in it is built or run. The file is written
atomically; into the run's own folder only while holding its lock (never beside a training
that is replacing the checkpoint).

Exit status: 0 written; 1 the run could not be exported (missing or damaged files, a backbone
that is not the package's, in use, a full disk: one line says which); 2 a bad command line.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

from raft_lightning.files import BACKBONE_FILE, CONFIG_FILE, EMBEDDINGS_FILE, SUMMARY_FILE, NotWritten, save_tensors

SWEEP_FILE = "multirun.yaml"  # Hydra's, in a sweep's folder (run.sweep.SWEEP_FILE; torch-free here)
USAGE = f"raft-export run_dir=<run folder> [out=<file>, default <run folder>/{BACKBONE_FILE}]"
SETTINGS = {
    "run_dir": f"a run's folder (with {CONFIG_FILE}, {SUMMARY_FILE} and checkpoints/last.ckpt)",
    "out": f"the file to write (default <run_dir>/{BACKBONE_FILE}); its folder must exist",
}


def arguments(argv: list[str]) -> tuple[dict[str, Path], list[str]]:
    """``key=value`` arguments as paths, and one ``key=value: what is allowed`` line per bad one."""
    given, errors = {}, []
    for arg in argv:
        key, sep, value = arg.partition("=")
        if not sep or key not in SETTINGS:
            takes = ", ".join(f"{k}=..." for k in SETTINGS)
            errors.append(f"{arg}: not a setting of raft-export (it takes {takes}: {USAGE})")
        elif not value:
            errors.append(f"{arg}: {SETTINGS[key]}")
        else:
            given[key] = Path(value)
    if errors:
        return given, errors
    if "run_dir" not in given:
        return given, [f"run_dir: missing; {SETTINGS['run_dir']}: {USAGE}"]
    run_dir = given["run_dir"]
    if not (run_dir / CONFIG_FILE).is_file() or not (run_dir / SUMMARY_FILE).is_file():
        return given, [f"run_dir={run_dir}: not a run folder (it needs {CONFIG_FILE} and {SUMMARY_FILE})"]
    out = given.setdefault("out", run_dir / BACKBONE_FILE)
    if out.is_dir():
        errors.append(f"out={out}: a folder; name the file to write in it, e.g. out={out / BACKBONE_FILE}")
    elif not out.parent.is_dir():
        errors.append(f"out={out}: {SETTINGS['out']}")
    elif (out.parent / SWEEP_FILE).is_file() and not out.name.endswith(".pt"):  # Hydra's and the report's files
        errors.append(f"out={out}: inside a sweep folder only <sweep folder>/<name>.pt, beside the sweep's own files")
    elif (home := run_folder_of(out)) is not None:  # this run's folder, or another's: its files are not ours
        which = "the run folder" if home.resolve() == run_dir.resolve() else f"the run folder {home}"
        if out.parent.resolve() != home.resolve() or not out.name.endswith(".pt"):
            errors.append(f"out={out}: inside {which} only <run folder>/<name>.pt, beside the run's own files")
        elif out.name == EMBEDDINGS_FILE:
            errors.append(f"out={out}: {EMBEDDINGS_FILE} is the linear evaluation's; choose another name")
    return given, errors


def run_folder_of(path: Path) -> Path | None:
    """The run folder ``path`` would land in (the nearest folder above it holding a run's
    config.yaml or summary.json), or None."""
    folder = path.parent.resolve()
    for candidate in (folder, *folder.parents):
        if (candidate / CONFIG_FILE).is_file() or (candidate / SUMMARY_FILE).is_file():
            return candidate
    return None


def export(run_dir: Path, out: Path) -> dict:
    """Write the backbone of the run in ``run_dir`` to ``out`` (holding the lock of the run folder
    ``out`` is in, if any: never beside a training that is replacing its files) and return the
    record written."""
    from raft_lightning.export.run import export_record  # torch, lightning: after the command line
    from raft_lightning.lock import FolderLock

    home = run_folder_of(out)
    with FolderLock(home) if home is not None else contextlib.nullcontext():
        record = export_record(run_dir)
        save_tensors(out, record)
    return record


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help") for a in argv):
        print(f"usage: {USAGE}\n\n{__doc__.split(chr(10) + chr(10), 1)[1]}")
        return
    given, errors = arguments(argv)
    if errors:
        print("raft-export: " + "\n  ".join(errors), file=sys.stderr)
        raise SystemExit(2)
    from raft_lightning.export.run import CannotExport
    from raft_lightning.lock import FolderBusy
    from raft_lightning.readers import DamagedFile

    run_dir, out = given["run_dir"], given["out"]
    try:
        record = export(run_dir, out)
    except KeyboardInterrupt:
        print(f"raft-export: run_dir={run_dir}: interrupted; nothing was written", file=sys.stderr)
        raise SystemExit(130) from None
    except (DamagedFile, CannotExport, FileNotFoundError, FolderBusy, OSError) as e:
        reason = e.strerror if isinstance(e, OSError) and not isinstance(e, NotWritten) and e.strerror else e
        print(f"raft-export: run_dir={run_dir}: {reason}", file=sys.stderr)
        raise SystemExit(1) from None
    name, width = record["architecture"]["name"], record["out_dim"]
    print(f"{out}: the {name} backbone ({width}-d features, {len(record['state_dict'])} tensors)")


if __name__ == "__main__":
    main()
