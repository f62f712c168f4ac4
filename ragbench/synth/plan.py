"""Which candidate comes next: kinds, sources, caps and stop reasons, as a pure function of counts.

Contract: ``Plan(n, multi, unanswerable, order, index)`` turns the requested shares into accepted
targets per kind (``single`` gets the rest). ``record(row)`` counts a written row (new, or read back
from the out file on resume); ``next_batch(size, seed)`` returns the next candidates and
``stop_reason()`` says why there are none. Everything depends only on the recorded rows and the
seeded passage order, so a rerun that reads back the rows of an interrupted run plans exactly the
candidates the interrupted run would have planned next.

Rules:
- a candidate's kind is the open kind furthest behind its target (relative gap; ties in the order
  single, multi, unanswerable), counting the planned batch as if it were accepted;
- a kind is tried at most :data:`CAP_FACTOR` times its target; when multi or unanswerable hits that
  cap, or multi has no partner passage (one document, or no unused related passage of another
  document), its shortfall moves to single, so ``n`` stays reachable;
- sources are drawn in the stratified order, each passage used at most once (as a source or a
  partner); a multi candidate's partner is the best BM25 match of another document;
- synthesis stops when ``n`` are accepted, when ``CAP_FACTOR * n`` candidates were tried, or when
  no passage is left.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ragbench.config.experiment import params_hash
from ragbench.synth.sampling import Passage, PassageIndex

KINDS = ("single", "multi", "unanswerable")
CAP_FACTOR = 3  # candidates tried per accepted question wanted, at most
STOPS = {
    "target": "reached the target",
    "cap": "candidate cap reached ({cap} = 3 x n)",
    "passages": "the usable passages ran out",
}


def question_id(sources: Sequence[Passage], kind: str, seed: int) -> str:
    """``synth-`` + 12 hex of a hash of the sources, the kind and the seed."""
    parts = [[p.doc_id, p.start, p.end] for p in sources]
    return "synth-" + params_hash({"sources": parts, "kind": kind, "seed": seed}, length=12)


@dataclass
class Candidate:
    """One question being made; the fields after ``question_id`` fill in as it is worked on."""

    kind: str
    sources: list[Passage]
    question_id: str
    question: str = ""
    original: str | None = None  # the model's question when a rewrite made it self-contained
    answer: str = ""
    evidence: list[str] = field(default_factory=list)  # before alignment
    spans: list[dict[str, Any]] = field(default_factory=list)  # doc_id, start, end, method, score
    checked_against: list[str] = field(default_factory=list)  # unanswerable: retrieved passages
    vector: Any = None  # the question's embedding, for the duplicate filter
    reason: str | None = None  # "<filter name>: <detail>" once rejected
    check_answer: str | None = None  # the round-trip check's answer from the span(s) alone
    specificity: dict[str, Any] | None = None  # margin and closest other document (synth.specific)

    def reject(self, name: str, detail: str) -> None:
        self.reason = f"{name}: {detail}"


def _share(n: int, fraction: float) -> int:
    return int(n * fraction + 0.5)  # half up: 10% of 5 is 1 (round() rounds halves to even: 0)


class Plan:
    """Targets, counts and the source order (see the module docstring)."""

    def __init__(
        self,
        n: int,
        multi: float,
        unanswerable: float,
        order: Sequence[Passage],
        index: PassageIndex,
    ) -> None:
        self.n = n
        n_multi, n_unanswerable = _share(n, multi), _share(n, unanswerable)
        self.targets = {
            "single": n - n_multi - n_unanswerable,
            "multi": n_multi,
            "unanswerable": n_unanswerable,
        }
        self.cap = CAP_FACTOR * n
        self.order = list(order)
        self.index = index
        self.accepted: Counter[str] = Counter()
        self.tried: Counter[str] = Counter()
        self.used: set[tuple[str, int, int]] = set()
        self.unavailable: dict[str, str] = {}  # kind -> why it cannot be made
        if n_multi and len({p.doc_id for p in self.order}) < 2:
            self.unavailable["multi"] = "multi-passage questions need two documents"

    def record(self, row: Mapping[str, Any]) -> None:
        """Count a written row: its kind, whether it is accepted, the passages it used."""
        kind = str(row.get("kind") or "single")
        self.tried[kind] += 1
        if (row.get("status") or "accepted") == "accepted":
            self.accepted[kind] += 1
        for s in (row.get("provenance") or {}).get("sources") or []:
            self.used.add((s["doc_id"], s["start"], s["end"]))

    def targets_now(self, accepted: Mapping[str, int], tried: Mapping[str, int]) -> dict[str, int]:
        """Targets after moving the shortfall of capped or impossible kinds to single."""
        targets = dict(self.targets)
        for kind in ("multi", "unanswerable"):
            closed = kind in self.unavailable or tried.get(kind, 0) >= CAP_FACTOR * targets[kind]
            short = targets[kind] - accepted.get(kind, 0)
            if closed and short > 0:
                targets["single"] += short
                targets[kind] -= short
        return targets

    def _pick(self, accepted: Mapping[str, int], tried: Mapping[str, int]) -> str:
        targets = self.targets_now(accepted, tried)
        best, gap = "single", 0.0  # single also fills any rest (rows edited by a reviewer)
        for kind in KINDS:
            if targets[kind] > accepted.get(kind, 0):
                behind = (targets[kind] - accepted.get(kind, 0)) / targets[kind]
                if behind > gap:
                    best, gap = kind, behind
        return best

    def _next_source(self, taken: set[tuple[str, int, int]]) -> Passage | None:
        return next((p for p in self.order if p.key not in taken), None)

    def stop_reason(self) -> str | None:
        """Why no candidate is left (a key of :data:`STOPS`), or None."""
        if sum(self.accepted.values()) >= self.n:
            return "target"
        if sum(self.tried.values()) >= self.cap:
            return "cap"
        if self._next_source(self.used) is None:
            return "passages"
        return None

    def next_batch(self, size: int, seed: int) -> list[Candidate]:
        """Up to ``size`` candidates, never more than the target or the cap still allow."""
        accepted, tried = Counter(self.accepted), Counter(self.tried)
        size = min(size, self.n - sum(accepted.values()), self.cap - sum(tried.values()))
        taken = set(self.used)
        batch: list[Candidate] = []
        while len(batch) < size:
            kind = self._pick(accepted, tried)
            source = self._next_source(taken)
            if source is None:
                break
            sources = [source]
            if kind == "multi":
                partner = self.index.related(source, taken | {source.key})
                if partner is None:
                    self.unavailable["multi"] = "no unused related passage of another document"
                    continue
                sources.append(partner)
            taken.update(p.key for p in sources)
            batch.append(Candidate(kind, sources, question_id(sources, kind, seed)))
            accepted[kind] += 1
            tried[kind] += 1
        return batch
