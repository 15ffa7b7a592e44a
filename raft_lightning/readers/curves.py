"""spectra.csv and steps.csv: the collapse monitors' singular values per epoch and the training
values per optimiser step (callbacks.monitors writes both). Read as metrics.csv is: every cell
checked, a file that is not what its writer writes is ``DamagedFile``, a missing one is empty."""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from pathlib import Path

from raft_lightning.files import SPECTRA_FILE, STEPS_FILE
from raft_lightning.readers.base import DamagedFile, first_line, present, short, text_of
from raft_lightning.readers.records import read_epochs

SPECTRA_COLUMNS = ("epoch", "network", "layer", "index", "singular_value")
NETWORKS, LAYERS = ("online", "target"), ("backbone", "projector")
SPECTRA_EXPECTED = (
    "a CSV with header epoch,network,layer,index,singular_value: integers, network online|target, "
    "layer backbone|projector, indices 0..k-1 per spectrum, finite singular values >= 0 (callbacks.monitors)"
)
STEPS_REQUIRED = ("step", "epoch")
STEPS_EXPECTED = "a CSV of numbers with a header row starting step,epoch and steps increasing (callbacks.monitors)"

Spectra = dict[tuple[str, str], dict[int, list[float]]]  # (network, layer) → epoch → σ_0 ≥ σ_1 ≥ …


def _integer(path: Path, number: int, key: str, cell: str) -> int:
    try:
        value = int(cell)
    except ValueError:
        raise DamagedFile(path, f"line {number}, {key}={short(cell)} is not an integer", SPECTRA_EXPECTED) from None
    if value < 0:
        raise DamagedFile(path, f"line {number}, {key}={value} is negative", SPECTRA_EXPECTED)
    return value


def read_spectra(run_dir: str | Path) -> Spectra:
    """spectra.csv as ``{(network, layer): {epoch: singular values by index}}``; {} when there is none."""
    path = Path(run_dir) / SPECTRA_FILE
    if not present(path, run_dir, SPECTRA_EXPECTED):
        return {}
    lines = text_of(path, SPECTRA_EXPECTED).splitlines()
    found: dict[tuple[str, str], dict[int, dict[int, float]]] = defaultdict(lambda: defaultdict(dict))
    try:
        reader = csv.reader(lines)
        header = next(reader, None)
        if tuple(header or ()) != SPECTRA_COLUMNS:
            raise DamagedFile(path, f"header {short(header)}", SPECTRA_EXPECTED)
        for number, cells in enumerate(reader, start=2):
            if len(cells) != len(SPECTRA_COLUMNS):
                raise DamagedFile(path, f"line {number} has {len(cells)} cells, the header 5", SPECTRA_EXPECTED)
            epoch, network, layer, index, value = cells
            if network not in NETWORKS or layer not in LAYERS:
                where = f"line {number}, network/layer {short(network)}/{short(layer)}"
                raise DamagedFile(path, where, SPECTRA_EXPECTED)
            epoch_, index_ = _integer(path, number, "epoch", epoch), _integer(path, number, "index", index)
            try:
                sigma = float(value)
            except ValueError:
                sigma = math.nan
            if not (math.isfinite(sigma) and sigma >= 0):
                raise DamagedFile(path, f"line {number}, singular_value={short(value)}", SPECTRA_EXPECTED)
            spectrum = found[network, layer][epoch_]
            if index_ in spectrum:
                raise DamagedFile(path, f"line {number} repeats index {index_} of epoch {epoch_}", SPECTRA_EXPECTED)
            spectrum[index_] = sigma
    except csv.Error as e:
        raise DamagedFile(path, first_line(e), SPECTRA_EXPECTED) from None
    spectra: Spectra = {}
    for key, epochs in found.items():
        spectra[key] = {}
        for epoch, spectrum in sorted(epochs.items()):
            if sorted(spectrum) != list(range(len(spectrum))):
                raise DamagedFile(path, f"{key[0]}/{key[1]} epoch {epoch}: indices not 0..k-1", SPECTRA_EXPECTED)
            spectra[key][epoch] = [spectrum[i] for i in range(len(spectrum))]
    return spectra


def read_steps(run_dir: str | Path) -> list[dict[str, float]]:
    """steps.csv as one dict per logged step (empty cells left out), steps increasing; [] when there is none."""
    path = Path(run_dir) / STEPS_FILE
    try:
        rows = read_epochs(run_dir, STEPS_FILE)
    except DamagedFile as e:
        raise DamagedFile(path, e.problem, STEPS_EXPECTED) from None
    previous = -math.inf
    for number, row in enumerate(rows, start=2):
        if any(key not in row or not math.isfinite(row[key]) for key in STEPS_REQUIRED):
            raise DamagedFile(path, f"line {number} has no step or epoch number", STEPS_EXPECTED)
        if row["step"] <= previous:
            raise DamagedFile(path, f"line {number}, step {row['step']:g} does not increase", STEPS_EXPECTED)
        previous = row["step"]
    return rows
