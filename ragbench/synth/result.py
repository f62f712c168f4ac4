"""What ``synthesize`` reports: :class:`SynthProgress` (for progress displays) and
:class:`SynthResult` (counts per kind and per rejection reason, passages skipped, LLM use; printed
by the CLI, shown in a notebook).
"""

from __future__ import annotations

import html
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ragbench.synth.plan import KINDS


@dataclass(frozen=True)
class SynthProgress:
    """Where synthesis is, for progress displays (``synthesize(..., on_progress=callback)``)."""

    accepted: int
    target: int
    candidates: int
    cap: int
    last: str  # "accepted" or the last rejection reason
    elapsed_s: float


@dataclass
class SynthResult:
    """What ``synthesize`` did; counts include rows read back from the out file on resume."""

    out: Path
    summary_file: Path
    target: int
    accepted: int
    candidates: int
    kinds: dict[str, int]  # accepted per kind
    rejected: dict[str, int]  # per filter name (every name, zeros included)
    stopped: str  # why synthesis stopped, in words
    seconds: float  # this call's
    accepted_per_minute: float  # accepted by this call per minute of this call
    resumed: int  # rows that were already in the out file
    llm: dict[str, Any] = field(default_factory=dict)  # calls, cache hits, tokens, seconds
    notes: list[str] = field(default_factory=list)
    skipped_passages: dict[str, int] = field(default_factory=dict)  # per reason, before any LLM

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["out"], data["summary_file"] = str(self.out), str(self.summary_file)
        return data

    def lines(self) -> list[str]:
        """The summary as the CLI prints it."""
        kinds = ", ".join(f"{k} {self.kinds.get(k, 0)}" for k in KINDS)
        rejected = ", ".join(f"{k} {v}" for k, v in self.rejected.items() if v) or "none"
        resumed = f"; {self.resumed} row(s) were already in the file" if self.resumed else ""
        return [
            f"synth: {self.accepted} accepted of {self.candidates} candidates "
            f"(target {self.target}: {self.stopped}){resumed}",
            f"  kinds: {kinds}",
            f"  rejected: {rejected}",
            *(
                [f"  passages skipped before the LLM: {skipped}"]
                if (skipped := ", ".join(f"{k} {v}" for k, v in self.skipped_passages.items()))
                else []
            ),
            f"  {self.seconds:.0f}s, {self.accepted_per_minute:.2f} accepted/min; "
            f"{self.llm.get('calls', 0)} LLM calls, {self.llm.get('cache_hits', 0)} cached",
            *[f"  note: {note}" for note in self.notes],
            f"questions: {self.out} (summary: {self.summary_file})",
        ]

    def __repr__(self) -> str:
        return "\n".join(self.lines())

    def _repr_html_(self) -> str:
        items = "".join(f"<li>{html.escape(line.strip())}</li>" for line in self.lines()[1:])
        return f"<b>{html.escape(self.lines()[0])}</b><ul>{items}</ul>"
