"""Figure 3's data: each row's test projections from one of its runs' embeddings.pt."""

from __future__ import annotations

import torch

from raft_lightning.files import EMBEDDINGS_FILE
from raft_lightning.readers import DamagedFile, read_embeddings
from raft_lightning.report.rows import Row

MIN_POINTS = 2  # points and dimensions a panel needs: it shows them PCA'd to 2-D


def attach_embeddings(rows: list[Row], max_points: int) -> None:
    """Each row's test projections and labels for Figure 3, from its first run with a readable
    embeddings.pt (saved by the linear evaluation) that holds at least ``MIN_POINTS`` points of
    at least ``MIN_POINTS`` dimensions, at most ``max_points`` of them (a fixed random subset).
    A damaged file is the run's ``problem`` (the notes list it), never a stop; a row whose files
    hold too few points says so in ``no_panel`` (the notes say it too)."""
    for row in rows:
        for run in row.runs:
            try:
                saved = read_embeddings(run.path)
            except DamagedFile as e:
                run.problem = run.problem or str(e)
                continue
            if saved is None:
                continue
            projections, labels = saved
            if min(projections.shape) < MIN_POINTS:  # read_embeddings checked it is (N, D)
                n, d = projections.shape
                row.no_panel = row.no_panel or (
                    f"{run.path / EMBEDDINGS_FILE} holds {n} point(s) of {d} dimension(s); "
                    f"a panel needs at least {MIN_POINTS} of each"
                )
                continue
            if len(labels) > max_points:
                keep = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))[:max_points]
                projections, labels = projections[keep], labels[keep]
            row.embeddings, row.embeddings_from = (projections, labels), run
            break
