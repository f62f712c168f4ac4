"""Budgeted, adaptive allocation of judge verdicts over trials x questions (no store, no LLM).

Contract:
- ``Allocator(trials, questions, metric, policy, budget)`` plans the judging of a run in rounds.
  ``next_round()`` returns the next ``(trial_id, question_id)`` pairs to judge (empty: done);
  ``record(trial_id, question_id, value, seconds)`` reports each pair's outcome (``value`` of the
  decision metric, None when it failed; ``seconds`` it cost); ``status()`` says, per trial, how
  many verdicts it got, whether it was stopped and why; ``best()`` is the pick (the best-trial rule
  of ``ragbench.stats`` among the trials not stopped); ``summary()`` is all of it as JSON, and
  ``budget_rows`` / ``budget_note`` put a summary in words for reports.
- A verdict is one question judged for one trial (on every judged metric of the run). Questions
  are taken in the given (seeded) order, the same for every trial, so every comparison is paired:
  a round is the next question for every trial still in contention.
- ``uniform``: every trial gets the same questions until the budget or the questions end.
- ``adaptive``: at the looks ``stats.look_plan`` plans, ``stats.compare_with_best`` compares every
  trial in contention with the current best (sign-flip test, Holm over every pair, the look's
  share of ``alpha``: see ``ragbench/stats/sequential.py`` for why repeated looks need that). A
  trial significantly worse stops receiving verdicts ("significantly worse than <best> (p=...,
  Holm over N pairs, n=...)"); its share of the budget goes to the trials still in contention. The
  best is never stopped; once it is alone it gets the rest (a narrower interval for the winner).
- Budget (:class:`Budget`): ``verdicts`` and/or ``seconds`` (the cost ``record`` reports),
  whichever ends first. A verdict budget stops exactly at the budget, also in the middle of a
  round (the round's first trials in standing order, best first, get the last verdicts). A seconds
  budget is checked before each round, and the round is cut to the verdicts the remaining seconds
  buy at the average cost so far, so it can overshoot by the last round's spread.
- Every trial that was not stopped ends with "all questions judged" or "budget exhausted";
  adaptive adds "best so far" (or "best; every other trial stopped") or "still in contention".
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from ragbench.stats import MIN_N, compare_with_best, look_plan, order_by_mean

POLICIES = ("uniform", "adaptive")
ALL_JUDGED = "all questions judged"
EXHAUSTED = "budget exhausted"


@dataclass(frozen=True)
class Budget:
    """How much judging a run may do: verdicts (judged questions), seconds, or both (whichever
    ends first). ``Budget()`` is unlimited: every question of every trial in contention."""

    verdicts: int | None = None
    seconds: float | None = None

    def __post_init__(self) -> None:
        if self.verdicts is not None and (isinstance(self.verdicts, bool) or self.verdicts < 0):
            raise ValueError(f"budget verdicts must be a whole number >= 0, got {self.verdicts!r}")
        if self.seconds is not None and not (self.seconds >= 0 and math.isfinite(self.seconds)):
            raise ValueError(f"budget seconds must be a finite number >= 0, got {self.seconds!r}")

    def describe(self) -> str:
        """'120 verdicts', '600 s', '120 verdicts or 600 s' or 'unlimited'."""
        parts = []
        if self.verdicts is not None:
            parts.append(f"{self.verdicts} verdicts")
        if self.seconds is not None:
            parts.append(f"{self.seconds:g} s")
        return " or ".join(parts) or "unlimited"


@dataclass(frozen=True)
class TrialStatus:
    """Where one trial stands: verdicts received, whether adaptive allocation stopped it, why."""

    verdicts: int
    stopped: bool
    reason: str


class Allocator:
    """Decides which (trial, question) pairs to judge next; see the module docstring.

    Args:
        trials: trial ids, in the order uniform allocation serves them.
        questions: question ids in the order they are judged (seeded; the same for every trial).
        metric: the metric adaptive allocation decides on (named in the reasons).
        policy: ``"uniform"`` or ``"adaptive"``.
        budget: the judging budget (default: unlimited).
        alpha: family-wise error rate of all stops of the run, over every look.
        min_n: fewest paired questions for a comparison (``stats.MIN_N``).
        labels: trial_id -> label for the reasons and the best-trial rule's tie-break.
        seed: seed of the sign-flip test's Monte Carlo draws.
    """

    def __init__(
        self,
        trials: Sequence[str],
        questions: Sequence[str],
        metric: str,
        policy: str = "uniform",
        budget: Budget | None = None,
        alpha: float = 0.05,
        min_n: int = MIN_N,
        labels: Mapping[str, str] | None = None,
        seed: int = 0,
    ) -> None:
        if policy not in POLICIES:
            raise ValueError(f"unknown allocation '{policy}'; valid: {', '.join(POLICIES)}")
        if len(set(trials)) != len(trials) or len(set(questions)) != len(questions):
            raise ValueError("trials and questions must be unique")
        self.trials = list(trials)
        self.questions = list(questions)
        self.metric = metric
        self.policy = policy
        self.budget = budget or Budget()
        self.alpha = alpha
        self.min_n = min_n
        self.labels = {t: (labels or {}).get(t, t) for t in self.trials}
        self.seed = seed
        self.plan: dict[int, float] = {}
        if policy == "adaptive":
            self.plan = look_plan(len(trials), len(questions), alpha, min_n, self.budget.verdicts)
        self.looked: dict[int, tuple[str, ...]] = {}  # look -> trials it stopped
        self.values: dict[str, dict[str, float | None]] = {t: {} for t in self.trials}
        self.verdicts = dict.fromkeys(self.trials, 0)
        self.position = dict.fromkeys(self.trials, 0)  # index of each trial's next question
        self.stop_reason: dict[str, str] = {}
        self.pending: set[tuple[str, str]] = set()
        self.spent_verdicts = 0
        self.spent_seconds = 0.0
        self.standing = list(self.trials)  # serving order: trial order, then the last look's
        self.finished = False

    @property
    def contenders(self) -> list[str]:
        """Trials still receiving verdicts, in serving order."""
        return [t for t in self.standing if t not in self.stop_reason]

    # --- rounds -------------------------------------------------------------------------------------

    def next_round(self, questions_per_trial: int = 1) -> list[tuple[str, str]]:
        """The next pairs to judge: the next question for every trial in contention (empty: done).

        ``questions_per_trial`` > 1 asks for several questions at once (more work in flight for a
        concurrent executor); a round never crosses a planned look, so decisions stay the same.

        Raises:
            RuntimeError: when pairs of the last round were not recorded yet.
        """
        if self.pending:
            raise RuntimeError(f"{len(self.pending)} pair(s) of the last round are not recorded")
        self._look_if_due()
        room = self._room()
        start = min((self.position[t] for t in self.contenders), default=len(self.questions))
        end = min(start + max(1, questions_per_trial), len(self.questions))
        due = [n for n in self.plan if n > start and n not in self.looked]
        if due:
            end = min(end, due[0])
        todo: list[tuple[str, str]] = []
        for index in range(start, end):  # question-major: the order of one question at a time
            for trial in self.contenders:
                if self.position[trial] == index and len(todo) < room:
                    todo.append((trial, self.questions[index]))
                    self.position[trial] += 1
        self.pending = set(todo)
        self.finished = not todo
        return todo

    def _room(self) -> int:
        """How many verdicts the budget allows in the next round."""
        room = float(len(self.trials) * len(self.questions))
        if self.budget.verdicts is not None:
            room = min(room, self.budget.verdicts - self.spent_verdicts)
        if self.budget.seconds is not None:
            left = self.budget.seconds - self.spent_seconds
            if left <= 0:
                return 0
            if self.spent_seconds > 0:  # cut the round to what the rest buys at the mean cost
                room = min(room, math.ceil(left / (self.spent_seconds / self.spent_verdicts)))
        return int(room)

    def record(self, trial_id: str, question_id: str, value: float | None, seconds: float) -> None:
        """The outcome of one pair of the round: the decision metric's value (None: failed).

        Raises:
            ValueError: for a pair that is not in the current round, or negative seconds.
        """
        key = (trial_id, question_id)
        if key not in self.pending:
            raise ValueError(f"({trial_id}, {question_id}) is not a pair of the current round")
        if not (seconds >= 0 and math.isfinite(seconds)):
            raise ValueError(f"seconds must be a finite number >= 0, got {seconds!r}")
        self.pending.discard(key)
        ok = value is not None and math.isfinite(value)
        self.values[trial_id][question_id] = float(value) if ok and value is not None else None
        self.verdicts[trial_id] += 1
        self.spent_verdicts += 1
        self.spent_seconds += seconds

    # --- looks --------------------------------------------------------------------------------------

    def _look_if_due(self) -> None:
        """Run each planned look that every trial in contention has reached."""
        reached = min((self.position[t] for t in self.contenders), default=0)
        for n in self.plan:
            if n <= reached and n not in self.looked:
                self._look(n)

    def _look(self, n: int) -> None:
        contenders = self.contenders
        if len(contenders) < 2:
            self.looked[n] = ()
            return
        shown = set(self.questions[:n])
        values = {t: {q: v for q, v in self.values[t].items() if q in shown} for t in contenders}
        look = compare_with_best(values, self.plan[n], self.labels, self.min_n, self.seed)
        for c in look.comparisons:
            if c.trial_id in look.worse:
                self.stop_reason[c.trial_id] = (
                    f"significantly worse than {self.labels[look.best]} on {self.metric} "
                    f"(p={c.p_adjusted:.2g}, Holm over {look.pairs} pairs, n={c.n}; "
                    f"look at {n} questions with alpha {self.plan[n]:.2g})"
                )
        order = [look.best, *(c.trial_id for c in look.comparisons)]
        self.standing = order + [t for t in self.standing if t not in order]
        self.looked[n] = look.worse

    # --- outcome ------------------------------------------------------------------------------------

    def best(self) -> str | None:
        """The pick: the best-trial rule over the trials not stopped (None: nothing scored)."""
        values = {t: self.values[t] for t in self.trials if t not in self.stop_reason}
        order = order_by_mean(values, self.labels)
        scored = [t for t in order if any(v is not None for v in values[t].values())]
        return scored[0] if scored else None

    def status(self) -> dict[str, TrialStatus]:
        """Per trial: verdicts received, stopped or not, and why it stopped (or where it stands)."""
        best = self.best()
        alone = len(self.contenders) == 1 and bool(self.stop_reason)
        out = {}
        for trial in self.trials:
            if trial in self.stop_reason:
                out[trial] = TrialStatus(self.verdicts[trial], True, self.stop_reason[trial])
                continue
            if not self.finished:
                reason = "in progress"
            elif self.position[trial] >= len(self.questions):
                reason = ALL_JUDGED
            else:
                reason = EXHAUSTED
            if self.policy == "adaptive":
                if trial != best:
                    reason += "; still in contention"
                else:
                    reason += "; best, every other trial stopped" if alone else "; best so far"
            out[trial] = TrialStatus(self.verdicts[trial], False, reason)
        return out

    def summary(self) -> dict[str, Any]:
        """Everything a report shows, JSON-ready (stored in the run's statistics)."""
        return {
            "policy": self.policy,
            "metric": self.metric,
            "budget": self.budget.describe(),
            "spent_verdicts": self.spent_verdicts,
            "spent_seconds": round(self.spent_seconds, 3),
            "alpha": self.alpha,
            "looks": {str(n): a for n, a in self.plan.items()},
            "stops": {str(n): list(t) for n, t in self.looked.items() if t},
            "best": self.best(),
            "trials": {t: asdict(s) for t, s in self.status().items()},
        }


def budget_rows(
    summary: Mapping[str, Any], labels: Mapping[str, str]
) -> list[tuple[str, int, str]]:
    """A stored ``summary`` as (trial label, verdicts, why it stopped), most verdicts first."""
    trials = summary.get("trials") or {}
    rows = [
        (labels.get(t, t), int(s.get("verdicts", 0)), str(s.get("reason", "")))
        for t, s in trials.items()
    ]
    return sorted(rows, key=lambda r: (-r[1], r[0]))


def budget_note(summary: Mapping[str, Any], judged: Sequence[str]) -> str:
    """One line on how a stored ``summary``'s budget was spent; ``judged``: the run's judged
    metrics (adaptive decided on one; the others follow its verdicts)."""
    if not summary:
        return ""
    line = (
        f"{summary.get('policy')} allocation, budget {summary.get('budget')}: "
        f"{summary.get('spent_verdicts')} verdicts "
        f"({float(summary.get('spent_seconds') or 0):.0f} s) spent; a verdict is one question "
        "answered and judged on every judged metric"
    )
    if summary.get("policy") != "adaptive":
        return line + "."
    metric = summary.get("metric")
    others = [m for m in judged if m != metric]
    verb = "follows" if len(others) == 1 else "follow"
    follow = f" ({', '.join(others)} {verb} its verdicts)" if others else ""
    looks = ", ".join(summary.get("looks") or {})
    how = (
        f"compared each trial in contention with the best after {looks} questions (sign-flip "
        f"test, Holm over every pair, alpha {summary.get('alpha')} spent over these looks)"
        if looks
        else "planned no look: too few questions or verdicts for any difference to be "
        "significant, so it spent like uniform"
    )
    return f"{line}. Adaptive decided on {metric}{follow}: it {how}."
