"""Ray scaling: an endpoint-bound sweep locally and on a Ray cluster with 1, 2 and 4 workers.

(work in progress)
"""

from __future__ import annotations


def ideal_seconds(calls: int, latency: float, slots: int) -> float:
    """What the calls take when every parallel slot waits on the endpoint all the time."""
    return calls * latency / slots


def main() -> None:
    raise SystemExit("not yet")
