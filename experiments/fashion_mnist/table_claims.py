"""The claims read from one table of runs (claims 1, 2, 4, 5, 8, Figure 5a, the tangential rows,
Figure 3a): each returns the rows it reads and the conditions of its rule over them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from experiments.fashion_mnist.primitives import (
    below,
    collapsed,
    same,
)
from experiments.fashion_mnist.selection import (
    BETAS,
    MARGINS,
    PROTOCOLS,
    Kept,
    Rows,
    Sel,
)


def _protocols(make: Callable[[str], dict[str, Any]]) -> list[dict[str, Any]]:
    """An accuracy part under both linear protocols, and kNN beside them (reported, not counted)."""
    knn = make("knn_acc") | {"counts": False}
    return [make(p) for p in PROTOCOLS] + [knn]


def c1(k: Kept) -> tuple[list[Sel], Callable[[Rows], list[list[dict]]]]:
    rows = [k.select("byol_np", "table1", variant="byol_np"), k.select("random", "table1", variant="random")]

    def conditions(r: Rows) -> list[list[dict]]:
        return [
            [collapsed(r["byol_np"])],
            [collapsed(r["random"], negate=True)],
            _protocols(lambda m: below(r["byol_np"], r["random"], m)),
        ]

    return rows, conditions


def c2(k: Kept) -> tuple[list[Sel], Callable]:
    names = ("byol_mlp_bn", "byol_mlp", "byol_lp", "byol_lpi")
    rows = [k.select(n, "table1", variant=n) for n in names]

    def conditions(r: Rows) -> list[list[dict]]:
        others = [r[n] for n in names[1:]]
        return [
            [collapsed(r[n], negate=True) for n in names],
            [p for x in others for p in _protocols(lambda m, x=x: same(x, r["byol_mlp_bn"], m, MARGINS[m]))],
        ]

    def behaviour(r: Rows) -> list[dict]:
        return [same(r[n], r["byol_mlp_bn"], "uniform_projector", MARGINS["uniform_projector"]) for n in names[1:]]

    conditions.behaviour = behaviour  # type: ignore[attr-defined]
    return rows, conditions


def c4(k: Kept) -> tuple[list[Sel], Callable]:
    names = ("mlp", "lp", "lpi", "np")
    rows = [k.select(f"{m}_{x}", "table1", variant=f"{m}_{x}") for m in ("byol_prime", "byol") for x in names]

    def conditions(r: Rows) -> list[list[dict]]:
        return [
            [collapsed(r["byol_prime_np"])],
            [
                p
                for x in names[:3]
                for p in _protocols(lambda m, x=x: same(r[f"byol_prime_{x}"], r[f"byol_{x}"], m, MARGINS[m]))
            ],
        ]

    return rows, conditions


def c5(k: Kept) -> tuple[list[Sel], Callable]:
    rows = [k.select(n, "table1", variant=n) for n in ("raft_lp", "byol_lp", "raft_np", "random")]

    def conditions(r: Rows) -> list[list[dict]]:
        return [
            [
                collapsed(r["raft_lp"], negate=True),
                *_protocols(lambda m: same(r["raft_lp"], r["byol_lp"], m, MARGINS[m])),
            ],
            [collapsed(r["raft_np"], negate=True)],
            _protocols(lambda m: below(r["random"], r["raft_np"], m, negate=True)),
        ]

    return rows, conditions


def c8(k: Kept) -> tuple[list[Sel], Callable]:
    rows = [k.select(n, "table1", variant=n) for n in ("tanbyol_lp", "byol_lp")]

    def conditions(r: Rows) -> list[list[dict]]:
        a, b = r["tanbyol_lp"], r["byol_lp"]
        return [
            [collapsed(a, negate=True)],
            [
                *_protocols(lambda m: same(a, b, m, MARGINS[m])),
                same(a, b, "uniform_projector", MARGINS["uniform_projector"]),
            ],
        ]

    return rows, conditions


def fig5a(k: Kept) -> tuple[list[Sel], Callable]:
    rows = [
        k.select(f"byol_prime/none β={b:g}", "fig5a", objective="byol_prime", predictor="none", beta=b) for b in BETAS
    ]
    return rows, lambda r: [[collapsed(r[s.name]) for s in rows]]


def tangential(k: Kept) -> tuple[list[Sel], Callable]:
    rows = [
        k.select("tangential byol_prime_lp", "tangential", variant="byol_prime_lp", negate_init=False, tangential=True),
        k.select("tangential raft_lp", "tangential", variant="raft_lp", negate_init=False, tangential=True),
        k.select("tanbyol_lp", "table1", variant="tanbyol_lp"),
    ]
    return rows, lambda r: [[collapsed(r[s.name], negate=True) for s in rows]]


def fig3a(k: Kept) -> tuple[list[Sel], Callable]:
    rows = [k.select("supervised", "table1", variant="supervised"), k.select("byol_mlp", "table1", variant="byol_mlp")]

    def conditions(r: Rows) -> list[list[dict]]:
        return [
            [collapsed(r["supervised"], negate=True)],
            [below(r["supervised"], r["byol_mlp"], "uniform_projector", negate=True, shift=-0.15)],
        ]

    return rows, conditions
