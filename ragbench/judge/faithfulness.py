"""Faithfulness with checked NLI replies: a degenerate reply is asked again, one statement at a time.

Contract: ``faithfulness(llm, prompts=, repair=, nli=)`` returns a ragas 0.4 ``Faithfulness``
(statements drawn from the answer, an NLI verdict per statement, supported / all), for the
compact prompts (``judge.prompts``) or ragas' own, with the judge settings ``judge.repair`` and
``judge.nli``:

- ``repair: false, nli: batch``: exactly the metric of before these settings existed
  (``prompts.faithfulness`` or ragas' ``Faithfulness``): the same calls, verdicts and trace.
- ``repair: true`` (the default): every NLI reply is checked (``degenerate.find``: statements
  missing or altered, reasons copied across statements, verdicts their own reason argues
  against). When a batch reply has a problem, the statements it affects (``degenerate.reask``:
  all of them when the reply cannot be aligned with the statements, else only those named) are
  asked again in the safer form, one statement alone against what ``focus`` shows of the context
  (``metrics.text.focus``: the sentences that share its words; ``prompts.single_verdicts``),
  and their new verdicts replace the old ones; the others stand.
  Only the affected ones: the others carry a reason of their own that agrees with their
  verdict, and the before/after comparison of ``repair`` then isolates what the re-ask changed.
  A one-statement reply (a re-ask, or ``nli: single``) whose verdict contradicts its reason is
  kept as given and flagged: there is no safer form left to ask, and asking again never loops.
- ``nli: single``: every statement is asked one at a time, for every answer; the calls of one
  answer share the context and go to the judge together (``generate_many``), so the local model
  decodes them in one batch.

The re-asks go through the same adapter (``judge.adapter.JudgeLLM``) as every call: retried,
cached per call, counted and traced. Each degenerate reply adds one ``{"degenerate": {...}}``
step to the adapter's trace, after the calls it led to: ``reply`` (``batch`` | ``single``),
``problems`` (``degenerate.Problem.as_dict``), and for a batch reply the statements ``reasked``
(0-based) with their ``old`` and ``new`` verdicts (``old`` is None where the reply had none); a
kept one-statement reply says ``kept: true``. :func:`counts` sums them for a score's details.
A re-ask that fails after its retries fails the score (``JudgeError``), as any judge call does:
the verdicts it was to replace are known to be untrustworthy.
"""

from __future__ import annotations

# ragas' metric class is subclassed from a lazily imported base (ragas is slow to import).
# mypy: disable-error-code="misc"
from collections.abc import Callable
from typing import Any

from ragbench.judge import degenerate
from ragbench.judge import prompts as judge_prompts

#: The trace key of a degenerate reply's step.
DEGENERATE = "degenerate"
#: The judged metrics whose NLI replies are checked (their details count the repairs).
CHECKED = ("faithfulness",)
# Bump when a check (degenerate.py), the choice of what is re-asked or the one-statement prompt
# changes: faithfulness verdicts reached with judge.repair on or judge.nli: single are cached
# under it (key_settings), so verdicts of an older version are judged again.
VERSION = 2  # 2: a re-ask sees the focused context

#: What a re-asked statement is shown of the context: ``focus(context, statement)``. The spec
#: (``metrics.judged``) passes ``metrics.text.focus``; the default shows the whole context.
Focus = Callable[[str, str], str]


def whole(context: str, statement: str) -> str:
    """The whole context, whatever the statement."""
    return context


def key_settings(repair: bool, nli: str) -> dict[str, Any]:
    """What a faithfulness verdict's cache key names of ``judge.repair`` and ``judge.nli``:
    nothing for ``repair: false, nli: batch``, whose verdicts are those of before these
    settings existed (their cached copies still serve), else both settings and :data:`VERSION`."""
    if not repair and nli == "batch":
        return {}
    return {"repair": repair, "nli": nli, "checked_nli": VERSION}


def counts(trace: list[Any]) -> dict[str, int]:
    """``judge_degenerate`` (degenerate NLI replies) and ``judge_reasked`` (statements asked
    again one at a time) of one score's trace."""
    steps = [s[DEGENERATE] for s in trace if isinstance(s, dict) and DEGENERATE in s]
    return {
        "judge_degenerate": len(steps),
        "judge_reasked": sum(len(s.get("reasked", ())) for s in steps),
    }


def _note(llm: Any, step: dict[str, Any]) -> None:
    trace = getattr(llm, "trace", None)
    if isinstance(trace, list):
        trace.append({DEGENERATE: step})


def _flag_single(llm: Any, statements: list[str], judged: list[Any], at: list[int]) -> None:
    """Trace each one-statement reply whose verdict contradicts its reason (kept as given)."""
    for statement, item, i in zip(statements, judged, at, strict=True):
        label = degenerate.contradiction(item.reason, item.verdict, statement)
        if label is not None:
            problem = degenerate.Problem(degenerate.CONTRADICTION, (i,), label)
            _note(llm, {"reply": "single", "problems": [problem.as_dict()], "kept": True})


async def _repaired(
    llm: Any, statements: list[str], context: str, out: Any, echoed: bool, focus: Focus
) -> Any:
    """``out`` (ragas' ``NLIStatementOutput``) with its degenerate verdicts asked again."""
    from ragas.metrics.collections.faithfulness.util import (
        NLIStatementOutput,
        StatementFaithfulnessAnswer,
    )

    given = list(out.statements)
    items = [degenerate.Judged(a.reason, a.verdict, a.statement if echoed else None) for a in given]
    problems = degenerate.find(statements, items, echoed)
    if not problems:
        return out
    which = degenerate.reask(problems, len(statements))
    asked = [statements[i] for i in which]
    new = await judge_prompts.single_verdicts(llm, asked, [focus(context, s) for s in asked])
    _note(
        llm,
        {
            "reply": "batch",
            "problems": [p.as_dict() for p in problems],
            "reasked": which,
            "old": [given[i].verdict if i < len(given) else None for i in which],
            "new": [j.verdict for j in new],
        },
    )
    _flag_single(llm, [statements[i] for i in which], new, which)
    replaced = dict(zip(which, new, strict=True))
    merged = [
        StatementFaithfulnessAnswer(
            statement=s, reason=replaced[i].reason, verdict=replaced[i].verdict
        )
        if i in replaced
        else given[i]
        for i, s in enumerate(statements)
    ]
    return NLIStatementOutput(statements=merged)


def faithfulness(
    llm: Any,
    prompts: str = "compact",
    repair: bool = True,
    nli: str = "batch",
    focus: Focus = whole,
) -> Any:
    """ragas Faithfulness whose NLI replies are checked and repaired (see the module docstring).

    Args:
        llm: the judge's ragas adapter (``judge.adapter.JudgeLLM``).
        prompts: ``compact`` (``judge.prompts``) or ``ragas`` (ragas' NLI prompt, echoing).
        repair: check every NLI reply and ask a degenerate one's statements again.
        nli: ``batch`` (one call per answer) or ``single`` (one call per statement).
        focus: what a re-asked statement is shown of the context.
    """
    if nli not in ("batch", "single"):  # config.components.JUDGE_NLI (not imported: a leaf)
        raise ValueError(f"unknown judge nli mode '{nli}'; valid: batch, single")
    if not repair and nli == "batch":
        if prompts == "compact":
            return judge_prompts.faithfulness(llm)
        from ragas.metrics.collections import Faithfulness as RagasFaithfulness

        return RagasFaithfulness(llm=llm)
    from ragas.metrics.collections import Faithfulness
    from ragas.metrics.collections.faithfulness.util import (
        NLIStatementOutput,
        StatementFaithfulnessAnswer,
    )

    class CheckedFaithfulness(Faithfulness):
        async def _create_verdicts(self, statements: list[str], context: str) -> Any:
            if nli == "single":
                judged = await judge_prompts.single_verdicts(self.llm, statements, context)
                if repair:
                    _flag_single(self.llm, statements, judged, list(range(len(statements))))
                return NLIStatementOutput(
                    statements=[
                        StatementFaithfulnessAnswer(statement=s, reason=j.reason, verdict=j.verdict)
                        for s, j in zip(statements, judged, strict=True)
                    ]
                )
            if prompts == "compact":
                out = await judge_prompts.compact_verdicts(self.llm, statements, context)
            else:
                out = await super()._create_verdicts(statements, context)
            echoed = prompts != "compact"
            return await _repaired(self.llm, statements, context, out, echoed, focus)

    return CheckedFaithfulness(llm=llm)


__all__ = [
    "CHECKED",
    "DEGENERATE",
    "VERSION",
    "Focus",
    "counts",
    "faithfulness",
    "key_settings",
    "whole",
]
