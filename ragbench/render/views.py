"""How a view is made from the computed object it shows.

Contract: a view class extends the dataclass it shows (a report, a run diff, a drill-down or a
judge check, computed in ``results``, ``judge`` or ``data``) with ways to show it and nothing else;
``as_view(View, computed)`` copies the computed object's fields into a new ``View``, so nothing is
read or computed twice. This module draws nothing and reads nothing.
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from typing import Any, TypeVar

V = TypeVar("V")


def as_view(view: type[V], computed: Any) -> V:
    """``computed`` (a dataclass instance) as an instance of ``view``, a subclass of its class.

    Raises:
        TypeError: ``view`` does not extend ``computed``'s class (a programming error).
    """
    extends = is_dataclass(computed) and issubclass(view, type(computed))
    if not extends or isinstance(computed, type):
        raise TypeError(f"{view.__name__} is not a view of {type(computed).__name__}")
    return view(**{f.name: getattr(computed, f.name) for f in fields(computed) if f.init})
