"""``raft-report DIR --compare A B``: each metric's difference between two rows, A − B, with its
95 % interval and Welch's two-sided p-value over the rows' seeds. Prints; writes nothing."""

from __future__ import annotations

from raft_lightning.report.rows import METRICS, Row, row_names, split
from raft_lightning.report.stats import welch
from raft_lightning.report.tables import TAN_MARK, md


class UnknownRow(LookupError):
    """A row asked for by a name no row has, or more than one row has (the message lists the names)."""


class SameRow(ValueError):
    """Both names pick one row: a row minus itself is zero by construction, no finding."""


def find_row(rows: list[Row], wanted: str) -> Row:
    """The row named ``wanted``: its name as ``row_names`` gives it, its 0-based index in table
    order, or its label as a table prints it (markdown-escaped or not, a trailing ‡ or not)."""
    names = row_names(rows)
    wanted = wanted.removesuffix(TAN_MARK)
    if wanted in names:
        return rows[names.index(wanted)]
    if wanted.isascii() and wanted.isdigit() and int(wanted) < len(rows):  # not ² or ٣: int() refuses those
        return rows[int(wanted)]
    printed = [row for row in rows if wanted in (row.label, md(row.label))]
    # Table 3 prints one label for all its (α, β) rows, the β column telling them apart; Table 1
    # prints it once, for the row at α = β = 1: that is the row the label alone names.
    table1 = split(printed)[0]
    if len(printed) == 1 or len(table1) == 1:
        return (table1 or printed)[0]
    listing = "; ".join(f"{i} = {name}" for i, name in enumerate(names))
    if not printed:
        raise UnknownRow(f"no row {wanted!r}; rows: {listing}")
    both = " and ".join(f"{i} = {names[i]}" for i in _indices(rows, table1 or printed))
    raise UnknownRow(f"{wanted!r} is the label of more than one row ({both}): name one by its name or index")


def _indices(rows: list[Row], some: list[Row]) -> list[int]:
    """Where ``some`` are in ``rows``, by identity (rows compare by value, tensors included)."""
    return [i for i, row in enumerate(rows) if any(row is r for r in some)]


def _pick_two(rows: list[Row], a: str, b: str) -> tuple[Row, Row]:
    row_a, row_b = find_row(rows, a), find_row(rows, b)
    if row_a is row_b:
        (index,) = _indices(rows, [row_a])
        name = row_names(rows)[index]
        raise SameRow(f"{a!r} and {b!r} name the same row ({index} = {name}): expected two different rows")
    return row_a, row_b


def compare(rows: list[Row], a: str, b: str) -> list[str]:
    """The lines to print: a header naming both rows and their seeds, then one line per metric
    both rows measured; raises ``UnknownRow`` or ``SameRow`` unless ``a`` and ``b`` name two rows."""
    row_a, row_b = _pick_two(rows, a, b)
    names = dict(zip(map(id, rows), row_names(rows)))
    lines = [
        f"A = {names[id(row_a)]} ({row_a.seeds} seed(s)), B = {names[id(row_b)]} ({row_b.seeds} seed(s))",
        "A − B, 95 % confidence interval of the difference and two-sided p-value (Welch's t-test over seeds):",
    ]
    for key, title, percent in METRICS:
        if key not in row_a.stats or key not in row_b.stats:
            continue
        sa, sb = row_a.stats[key], row_b.stats[key]
        d = welch(sa.values, sb.values)
        scale, digits = (100, 2) if percent else (1, 3)
        head = f"{title}: {sa.mean * scale:.{digits}f} − {sb.mean * scale:.{digits}f} = {d.diff * scale:+.{digits}f}"
        if d.p is None:
            why = "one seed on a side" if min(sa.n, sb.n) < 2 else "no spread on either side"
            lines.append(f"{head}, no interval ({why})")
        else:
            low, high = (d.diff - d.ci95) * scale, (d.diff + d.ci95) * scale
            lines.append(f"{head}, 95 % CI [{low:+.{digits}f}, {high:+.{digits}f}], p = {d.p:.3g} (df = {d.df:.1f})")
    return lines
