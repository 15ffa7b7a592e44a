"""Checkpoints and tensor files, loaded with ``torch.load(weights_only=True)``: tensors and
plain values only; a pickle that asks for anything else is refused, never run."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from raft_lightning.files import DATA_FILES, EMBEDDINGS_FILE, SUMMARY_FILE
from raft_lightning.readers.base import DamagedFile, first_line, present, printable
from raft_lightning.values import FLOAT32_MAX

CHECKPOINT_EXPECTED = (
    "a Lightning checkpoint of tensors and plain values (torch.load weights_only=True), its weights finite"
)
EMBEDDINGS_EXPECTED = "{'projections': (N, D) finite float tensor, 'labels': (N,) integer tensor}"


def _torch_load(path: Path, expected: str, mmap: bool = False) -> Any:
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except FileNotFoundError:
        raise
    except Exception as e:  # truncated, random bytes, a pickle of other objects: torch raises many kinds
        if mmap:  # torch's mmap error says only that the file is not a zip archive: read it plainly for why
            return _torch_load(path, expected)
        problem = first_line(e)
        if "weights_only" in str(e) or "Unsupported global" in str(e):
            problem = "it holds objects other than tensors and plain values (refused, not loaded)"
        raise DamagedFile(path, problem, expected) from None


def read_checkpoint(path: str | Path, mmap: bool = False) -> dict[str, Any]:
    """A Lightning checkpoint: a dict whose ``state_dict`` maps names to tensors, and whose trained
    state (``trained_tensors``) is plain, real and finite."""
    import torch

    path = Path(path)
    # A folder, a pipe (which would block the read) or a broken link there is a damaged checkpoint.
    if not present(path, path.parent.parent if path.parent.name == "checkpoints" else path.parent, CHECKPOINT_EXPECTED):
        raise FileNotFoundError(f"{path}: no such file")
    state = _torch_load(path, CHECKPOINT_EXPECTED, mmap=mmap)
    weights = state.get("state_dict") if isinstance(state, dict) else None
    if not isinstance(weights, dict) or not all(isinstance(v, torch.Tensor) for v in weights.values()):
        raise DamagedFile(path, "no state_dict of tensors", CHECKPOINT_EXPECTED)
    # Weights that diverged, or that are not what training writes: nothing resumes, evaluates or
    # exports from them (a resume falls back to the checkpoint before).
    if problem := tensors_problem(trained_tensors(state)):
        raise DamagedFile(path, problem, CHECKPOINT_EXPECTED)
    return state


def checkpoint_epochs(state: dict[str, Any]) -> int | None:
    """The epochs a checkpoint's training had finished (Lightning's fit loop counts them), or None."""
    try:
        processed = state["loops"]["fit_loop"]["epoch_progress"]["total"]["processed"]
    except (KeyError, TypeError):
        return None
    return processed if isinstance(processed, int) and not isinstance(processed, bool) and processed >= 0 else None


# Lightning's own callbacks keep bookkeeping, not trained state: a ModelCheckpoint that monitors
# nothing holds kth_value = inf by design.
BOOKKEEPING_CALLBACKS = ("ModelCheckpoint", "EarlyStopping")


def trained_tensors(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """Every tensor of a checkpoint's trained state, by name: the weights (``state_dict``, named as
    they are), the optimisers' state (``optimizer_states…``) and the callbacks' (``callbacks.…``:
    the online probe's classifier and optimiser, the monitors' spectra), but Lightning's
    bookkeeping; and the optimisers' plain numbers (a learning rate a resume restores), as
    0-dim tensors. Walked without recursion: a file's nesting is the file's, not ours to trust."""
    import torch

    found = {str(k): v for k, v in (checkpoint.get("state_dict") or {}).items()}
    callbacks = checkpoint.get("callbacks")
    stack: list[tuple[str, Any]] = [("optimizer_states", checkpoint.get("optimizer_states"))]
    if isinstance(callbacks, dict):
        stack += [(f"callbacks.{k}", v) for k, v in callbacks.items() if not str(k).startswith(BOOKKEEPING_CALLBACKS)]
    while stack:
        name, node = stack.pop()
        if isinstance(node, torch.Tensor):
            found[name] = node
        elif isinstance(node, int | float) and not isinstance(node, bool) and "param_groups" in name:
            # an int beyond float64 is as infinite as a float32 network would find it
            found[name] = torch.tensor(float(node) if abs(node) < 1e308 else math.inf, dtype=torch.float64)
        elif isinstance(node, dict):
            stack += [(f"{name}.{k}", v) for k, v in node.items()]
        elif isinstance(node, list | tuple):
            stack += [(f"{name}[{i}]", v) for i, v in enumerate(node)]
    return found


def tensors_problem(tensors: dict[str, Any]) -> str | None:
    """What is wrong with ``tensors`` for a checkpoint training wrote, in a few words, or None:
    a tensor without plain data (sparse, nested, meta, quantized), a complex one, one not finite,
    one beyond float32's range."""
    import torch

    plain = {n: t for n, t in tensors.items() if isinstance(t, torch.Tensor)}
    odd = [
        n
        for n, t in plain.items()
        if t.layout != torch.strided or t.is_nested or t.is_meta or t.is_quantized or t.device.type != "cpu"
    ]
    if odd:
        return f"tensors that are not dense CPU data (sparse, nested, meta, quantized): {describe_tensors(odd)}"
    if complex_ := [n for n, t in plain.items() if t.is_complex()]:
        return f"complex tensors: {describe_tensors(complex_)}"
    if bad := non_finite(plain):
        return f"weights not finite: {describe_tensors(bad)}"
    if big := beyond_float32(plain):
        return f"weights beyond float32's range (infinite once in a float32 network): {describe_tensors(big)}"
    return None


def beyond_float32(tensors: dict[str, Any]) -> list[str]:
    """The names of the wider-than-float32 tensors holding a value float32 cannot (|x| > its
    largest): a float32 run would load it as an infinity, and a float64 run
    (``trainer.precision=64-true``) never trains one that large without diverging."""
    import torch

    wide = [(n, t) for n, t in tensors.items() if t.is_floating_point() and torch.finfo(t.dtype).max > FLOAT32_MAX]
    return [n for n, t in wide if t.numel() and bool(t.abs().max() > FLOAT32_MAX)]


def non_finite(weights: dict[str, Any]) -> list[str]:
    """The names of the floating-point (or complex) tensors of ``weights`` that hold a NaN or an
    infinity (one read of each device for all of its tensors)."""
    import torch

    floats = [
        (name, t)
        for name, t in weights.items()
        if isinstance(t, torch.Tensor) and (t.is_floating_point() or t.is_complex())
    ]
    by_device: dict[Any, list[tuple[str, Any]]] = {}
    for name, t in floats:  # a run's weights on its GPU, the monitors' spectra on the CPU: one read each
        by_device.setdefault(t.device, []).append((name, t))
    bad = set()
    for group in by_device.values():
        finite = torch.stack([torch.isfinite(t).all() for _, t in group]).tolist()
        bad |= {name for (name, _), ok in zip(group, finite) if not ok}
    return [name for name, _ in floats if name in bad]


def describe_tensors(names: list[str]) -> str:
    return (
        f"{len(names)} tensor(s), " + ", ".join(printable(n, 80) for n in names[:3]) + (", …" if len(names) > 3 else "")
    )


def read_embeddings(run_dir: str | Path) -> tuple[Any, Any] | None:
    """The test projections and labels the linear evaluation saved; None when there are none."""
    import torch

    path = Path(run_dir) / EMBEDDINGS_FILE
    if not present(path, run_dir, EMBEDDINGS_EXPECTED):
        return None
    saved = _torch_load(path, EMBEDDINGS_EXPECTED)
    projections = saved.get("projections") if isinstance(saved, dict) else None
    labels = saved.get("labels") if isinstance(saved, dict) else None
    ok = (
        isinstance(projections, torch.Tensor)
        and isinstance(labels, torch.Tensor)
        and projections.ndim == 2
        and labels.ndim == 1
        and len(projections) == len(labels) > 0
        and projections.shape[1] >= 2
        and projections.is_floating_point()
        and not labels.is_floating_point()
        and bool(torch.isfinite(projections).all())
        and int(labels.min()) >= 0
    )
    if not ok:
        raise DamagedFile(path, "other contents", EMBEDDINGS_EXPECTED)
    return projections, labels


def checkpoint_data_files(state: dict[str, Any], path: Path) -> dict[str, Any] | None:
    """The copy of ``data_files`` a checkpoint keeps (the datamodule's state, under its class name),
    or None where it keeps none (data of fixed files, or a checkpoint from before the copy). A copy
    that is not one is ``DamagedFile``: its statistics would normalise the images."""
    from raft_lightning.summary import data_files_problems

    for value in state.values():
        if isinstance(value, dict) and DATA_FILES in value:
            files = value[DATA_FILES]
            problems = data_files_problems(files) if isinstance(files, dict) else [f"data_files={files!r:.60}"]
            if problems:
                raise DamagedFile(Path(path), problems[0], f"{CHECKPOINT_EXPECTED}, its data_files as summary.json's")
            return files
    return None


def recorded_data_files(summarised: dict[str, Any] | None, state: dict[str, Any], path: Path) -> dict[str, Any] | None:
    """The images a run trained on: its summary's ``data_files`` (``summarised``) and the copy its
    checkpoint ``state`` keeps, which must agree (a checkpoint brought from another run's folder
    holds another run's weights); either where the other is missing (summary.json gone or damaged,
    a run killed before it recorded them); None where neither is known. ``DamagedFile`` names a
    copy that is not one, or a disagreement."""
    kept = checkpoint_data_files(state, path)
    if kept is not None and summarised is not None and kept.get("digest") != summarised.get("digest"):
        raise DamagedFile(
            Path(path),
            f"its data_files (digest {str(kept.get('digest'))[:12]}…) are not the images {SUMMARY_FILE} records "
            f"(digest {str(summarised.get('digest'))[:12]}…): a checkpoint of another run",
            f"{CHECKPOINT_EXPECTED}, of the run its folder records",
        )
    return summarised if summarised is not None else kept
