"""Reads a W&B offline run file (``run-<id>.wandb``) back, without the W&B service.

The file is W&B's transaction log, which ``wandb sync`` uploads: a 7-byte header (":W&B",
magic, version), then LevelDB-log style blocks of 32 KiB holding chunks (checksum, length,
type: full / first / middle / last) of serialized ``wandb.proto.wandb_internal_pb2.Record``s.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from wandb.proto import wandb_internal_pb2

BLOCK, CHUNK_HEADER = 32768, 7
FULL, LAST = 1, 4


def records(path: Path) -> Iterator[wandb_internal_pb2.Record]:
    raw = Path(path).read_bytes()
    ident, _magic, _version = struct.unpack("<4sHB", raw[:7])
    assert ident == b":W&B", f"{path} is not a W&B transaction log"
    i, pending = 7, b""
    while i + CHUNK_HEADER <= len(raw):
        if BLOCK - i % BLOCK < CHUNK_HEADER:  # the block's zero padding
            i += BLOCK - i % BLOCK
            continue
        _checksum, length, kind = struct.unpack("<IHB", raw[i : i + CHUNK_HEADER])
        pending += raw[i + CHUNK_HEADER : i + CHUNK_HEADER + length]
        i += CHUNK_HEADER + length
        if kind in (FULL, LAST):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            pending = b""
            yield record


def _items(items: Any) -> dict[str, Any]:
    return {item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in items}


def read_run(path: Path) -> dict[str, Any]:
    """The run's identity, its config, every history row and its exit code."""
    run: dict[str, Any] = {"config": {}, "history": [], "summary": {}, "exit_code": None, "preempting": False}
    for record in records(path):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            r = record.run
            run.update(id=r.run_id, group=r.run_group, name=r.display_name, tags=list(r.tags), project=r.project)
        elif kind == "config":
            run["config"].update(_items(record.config.update))
        elif kind == "history":
            run["history"].append(_items(record.history.item))
        elif kind == "summary":
            run["summary"].update(_items(record.summary.update))
        elif kind == "exit":
            run["exit_code"] = record.exit.exit_code
        elif kind == "preempting":
            run["preempting"] = True
    return run


def offline_runs(run_dir: Path) -> list[dict[str, Any]]:
    """Every offline W&B run written under ``<run_dir>/wandb``, oldest first."""
    return [read_run(p) for p in sorted(Path(run_dir).glob("wandb/offline-run-*/run-*.wandb"))]
