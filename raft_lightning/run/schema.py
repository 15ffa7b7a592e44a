"""Configured values against the signature of what they configure.

A config node with a ``_target_`` is checked against the target's own signature: every key must
be one of its parameters, and every value must fit the parameter's type hint (``loss.alpha=abc``:
must be a number). The defaults of parameters the node leaves out come from the same signature,
so that the range checks of ``config_errors`` see every value and repeat no default.
"""

from __future__ import annotations

import collections.abc
import inspect
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union

SKIP = object()  # a value that cannot be checked from the config (built from a nested node)


class TargetNotFound(ImportError):
    """A ``_target_`` that does not import; the message is one line (the reason, not Hydra's three)."""


def target_of(path: str) -> Any:
    """What ``_target_`` names, imported as ``instantiate`` will import it (Hydra's own lookup,
    without ``hydra.utils.get_object``'s log line of every failure)."""
    from hydra._internal.utils import _locate  # what instantiate uses; no public form without the log line

    try:
        return _locate(str(path))
    except Exception as e:
        cause = e.__cause__ if e.__cause__ is not None else e
        reason = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        raise TargetNotFound(reason) from e


def signature_of(target: Any) -> tuple[inspect.Signature, dict[str, Any]] | None:
    """The target's signature and its evaluated type hints (None where they cannot be read)."""
    try:
        function = target.__init__ if inspect.isclass(target) else target
        signature = inspect.signature(target)
    except (TypeError, ValueError):
        return None
    try:
        hints = typing.get_type_hints(function)
    except Exception:  # hints naming what is not importable here: check the keys only
        hints = {}
    return signature, hints


def defaults(signature: inspect.Signature) -> dict[str, Any]:
    return {
        name: p.default
        for name, p in signature.parameters.items()
        if p.default is not inspect.Parameter.empty and p.kind is not p.VAR_KEYWORD
    }


def fits(value: Any, hint: Any) -> bool:
    """Whether a config value can be the argument ``hint`` asks for (unknown kinds: yes)."""
    if value is SKIP or hint is Any:
        return True
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        return any(fits(value, a) for a in args)
    if origin is Literal:
        return value in args
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if hint is Path:
        return isinstance(value, (str, Path))
    container = origin or hint
    if container in (list, tuple, collections.abc.Sequence):
        if not isinstance(value, (list, tuple)):
            return False
        inner = [a for a in args if a is not Ellipsis]
        return not inner or all(fits(v, inner[0] if len(inner) == 1 else object) for v in value)
    if container in (dict, collections.abc.Mapping):
        return isinstance(value, dict)
    return True  # modules, factories, tensors: not something a config value can be wrong about


def describe(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        return " or ".join(dict.fromkeys(describe(a) for a in args))
    if origin is Literal:
        return "one of " + ", ".join(map(str, args))
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string", type(None): "null"}
    if hint in names:
        return names[hint]
    if (origin or hint) in (list, tuple, collections.abc.Sequence):
        return "a list"
    return getattr(hint, "__name__", str(hint))


def type_errors(target: Any, params: dict[str, Any]) -> list[str]:
    """``key=value: must be ...`` for values that do not fit, ``key: not a parameter`` for
    keys the target does not take."""
    read = signature_of(target)
    if read is None:
        return []
    signature, hints = read
    takes_any = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    errors = []
    for key, value in params.items():
        if key not in signature.parameters:
            if not takes_any:
                allowed = ", ".join(k for k in signature.parameters if k not in ("self", "args", "kwargs"))
                errors.append(f"{key}={value!r}: not a parameter of {target.__name__} (it takes {allowed})")
            continue
        hint = hints.get(key, Any)
        if not fits(value, hint):
            errors.append(f"{key}={value!r}: must be {describe(hint)}")
    return errors
