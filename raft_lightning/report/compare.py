"""``raft-report DIR --compare A B``: each metric's difference between two rows, A − B, with its
95 % interval and Welch's two-sided p-value over the rows' seeds. Prints; writes nothing."""

from __future__ import annotations

from raft_lightning.report.rows import METRICS, Row, row_names
from raft_lightning.report.stats import welch


class UnknownRow(LookupError):
    """A row asked for by a name no row has (the message lists the names)."""


def find_row(rows: list[Row], wanted: str) -> Row:
    """The row named ``wanted`` (as ``row_names`` prints it) or at index ``wanted`` (0-based, table order)."""
    names = row_names(rows)
    if wanted in names:
        return rows[names.index(wanted)]
    if wanted.isdigit() and int(wanted) < len(rows):
        return rows[int(wanted)]
    listing = "; ".join(f"{i} = {name}" for i, name in enumerate(names))
    raise UnknownRow(f"no row {wanted!r}; rows: {listing}")


def compare(rows: list[Row], a: str, b: str) -> list[str]:
    """The lines to print: a header naming both rows and their seeds, then one line per metric
    both rows measured."""
    row_a, row_b = find_row(rows, a), find_row(rows, b)
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
