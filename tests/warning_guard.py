"""Pytest plugin: a warning that ragbench causes fails the test, wherever it is raised.

Two layers, because pytest's ``filterwarnings`` alone cannot see every such warning:

1. ``filterwarnings = ["error::Warning:ragbench(\\.|$)"]`` (pyproject.toml) turns a warning into
   an exception when Python attributes it to a ragbench module: warnings ragbench raises itself,
   and library warnings whose ``stacklevel`` points at the caller (pandas' ``find_stack_level``,
   numpy's ``stacklevel=2``) when ragbench calls the library directly.
2. This plugin catches what that filter cannot: a warning raised *inside* a library that ragbench
   called, attributed to the library's own frame. Example: ragbench passes one-element Series to
   ``Axes.errorbar``; matplotlib's ``cbook`` calls ``float()`` on them and pandas attributes its
   FutureWarning to ``matplotlib.cbook`` -- the pink block users saw in notebook 03. While a test
   runs (setup and call), every warning that reaches ``warnings.showwarning`` is checked: if the
   innermost project frame on its stack is ragbench code, and it is not raised while a module is
   being imported, and its category is one Python shows by default (not Deprecation /
   PendingDeprecation / Import / Resource warnings: a library's internal deprecations are hidden
   from notebook users too), the test fails naming the ragbench function and the warning.

A warning ragbench suppresses on purpose (``warnings.catch_warnings`` + a targeted filter around
the call) never reaches ``showwarning``, so deliberate, documented suppression passes.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import pytest

HIDDEN_BY_DEFAULT = (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning)
HARNESS = ("_pytest", "pluggy", "pytest", "warning_guard", "conftest")


def _module(frame: FrameType) -> str:
    return str(frame.f_globals.get("__name__", ""))


def culprit(frame: FrameType | None, category: type[Warning]) -> str | None:
    """The ragbench function responsible for a warning shown from ``frame``, else None."""
    if issubclass(category, HIDDEN_BY_DEFAULT):
        return None
    while frame is not None:
        name = _module(frame)
        if name.startswith("importlib"):
            return None  # import-time warning of a library: not something ragbench called
        if name == "ragbench" or name.startswith("ragbench."):
            return f"{name}.{frame.f_code.co_name} (line {frame.f_lineno})"
        if name.startswith(HARNESS) or name.startswith("test_"):
            return None  # reached the test itself: it called the library directly
        frame = frame.f_back
    return None


@contextmanager
def ragbench_warnings() -> Iterator[list[str]]:
    """Collect (and still pass on) the warnings ragbench causes inside the ``with`` block."""
    caught: list[str] = []
    previous = warnings.showwarning

    def hook(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: Any = None,
        line: str | None = None,
    ) -> None:
        who = culprit(sys._getframe(1), category)
        if who:
            text = " ".join(str(message).split())
            caught.append(f"{who}: {category.__name__} at {filename}:{lineno}: {text}")
        previous(message, category, filename, lineno, file, line)

    warnings.showwarning = hook
    try:
        yield caught
    finally:
        warnings.showwarning = previous


def _guard(phase: str) -> Generator[None, Any, Any]:
    with ragbench_warnings() as caught:
        result = yield
    if caught:
        listed = "\n  ".join(dict.fromkeys(caught))
        pytest.fail(f"ragbench caused warning(s) during {phase}:\n  {listed}", pytrace=False)
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, Any, Any]:
    return (yield from _guard("setup"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, Any, Any]:
    return (yield from _guard("the test"))
