"""The range checks every ``config_errors`` shares, as ``name=value: what is allowed`` messages.
A leaf module: models, callbacks, data and the run's validation all use it."""

from __future__ import annotations

import math
from typing import Any

# The largest float32: the losses and optimisers multiply float32 tensors by their settings, and
# a larger value is infinite there (or fails the first step: "cannot be converted to type float").
FLOAT32_MAX = 3.4028234663852886e38


def finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def number_errors(name: str, value: Any, low: float, high: float = math.inf, closed_low: bool = True) -> list[str]:
    """A finite number in [low, high] (or (low, high] when ``closed_low`` is false)."""
    ok = finite(value) and (value >= low if closed_low else value > low) and value <= high
    if ok:
        return []
    bound = f"≥ {low:g}" if closed_low else f"> {low:g}"
    return [f"{name}={value!r}: must be a finite number {bound}" + (f" and ≤ {high:g}" if high < math.inf else "")]


def integer_errors(name: str, value: Any, low: int, high: int | None = None) -> list[str]:
    """An integer in [low, high] (no upper bound where ``high`` is None)."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= low and (high is None or value <= high):
        return []
    return [f"{name}={value!r}: must be an integer ≥ {low}" + (f" and ≤ {high}" if high is not None else "")]
