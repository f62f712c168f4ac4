"""The judge's reasons, read for people: its stored trace turned into statements, verdicts and whys.

Contract: ``read_trace(trace)`` takes the ``trace`` list a judged score keeps in
``scores.details`` (one ``{"<ReplyModel>": reply, "cached": true?}`` per LLM call, in call order)
and returns :class:`JudgeStep` s, each a list of :class:`Finding` s (what was judged, the verdict
in words, and the judge's reason). Replies are recognised by their shape, not their model name, so
ragas' prompts and the compact ones (``judge.prompts``) read alike:

- faithfulness: the statements drawn from the answer, each with "supported" / "not supported" by
  the passages and the reason (the statement list and the verdict list of the next call are paired
  in order; ragas' own NLI reply carries both);
- context precision: one line per passage judged, "useful" / "not useful" and the reason, numbered
  in the order the verdicts were recorded;
- context recall: each statement of the reference, "attributed" / "not attributed" to the passages;
- answer relevancy: each question the judge wrote from the answer (and whether it found the answer
  evasive); answer correctness: statements in the answer and the reference, and why
  (the answer's statements are drawn first, then the reference's: the second list of two in a row
  is named the reference's);
- anything else: compact readable text (``key: value; ...``), never a JSON dump.

``step_lines(steps)`` is the same as indented text lines (the drill-down's ``__repr__``). Nothing
here reads the store or writes HTML (``render.question.reasons_html`` does).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

CACHED = "cached"
DRAWN = "statements drawn from the answer"
CHECKED = "statements of the answer, checked against the retrieved passages"
DRAWN_REFERENCE = "statements drawn from the reference answer"
PASSAGES = "each retrieved passage, useful for reaching the reference answer or not"
QUESTIONS = "questions the judge wrote from the answer (compared with the asked one)"
MERGED = (PASSAGES, QUESTIONS)  # one call per item: consecutive replies make one step
#: Answer correctness' three lists, and what each says about a statement.
CORRECTNESS = {
    "TP": "in the answer and the reference",
    "FP": "in the answer only",
    "FN": "in the reference only",
}


@dataclass(frozen=True)
class Finding:
    """One judged thing: what (``subject``), the verdict in words, and the judge's reason."""

    subject: str
    verdict: str | None = None
    reason: str | None = None
    ok: bool | None = None  # True: a good verdict, False: a bad one, None: neither (for colour)


@dataclass
class JudgeStep:
    """One thing the judge did (e.g. "statements of the answer, checked against the passages")."""

    title: str
    findings: list[Finding] = field(default_factory=list)
    cached: bool = False


def _binary(value: Any) -> bool | None:
    """A 0/1 verdict (int, bool or text) as a bool; None when it is neither."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip() in ("0", "1"):
        return value.strip() == "1"
    return None


def plain(value: Any) -> str:
    """Any reply value as compact readable text: ``key: value; ...``, lists joined by " | "."""
    if isinstance(value, dict):
        return "; ".join(f"{k}: {plain(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return " | ".join(plain(v) for v in value) if value else "(none)"
    return "" if value is None else str(value)


def _verdicts(items: list[Any], subjects: list[str], yes: str, no: str) -> list[Finding]:
    found = []
    for k, item in enumerate(items):
        item = item if isinstance(item, dict) else {"verdict": item}
        ok = _binary(item.get("verdict", item.get("attributed")))
        subject = str(item.get("statement") or (subjects[k] if k < len(subjects) else ""))
        found.append(
            Finding(
                subject or f"statement {k + 1}",
                None if ok is None else (yes if ok else no),
                str(item["reason"]) if item.get("reason") is not None else None,
                ok,
            )
        )
    return found


def _is_verdict(body: Any) -> bool:
    """A single ``{"reason", "verdict"}`` reply: context precision's, one per passage."""
    return isinstance(body, dict) and set(body) == {"reason", "verdict"}


def read_trace(trace: list[Any]) -> list[JudgeStep]:
    """The judge's trace (see the module docstring) as steps of findings, in call order."""
    steps: list[JudgeStep] = []
    statements: list[str] = []  # the last statement list, waiting for its verdicts
    for raw in trace:
        if not isinstance(raw, dict):
            steps.append(JudgeStep("judge reply", [Finding(plain(raw))]))
            continue
        cached = bool(raw.get(CACHED))
        named = [(k, v) for k, v in raw.items() if k != CACHED]
        if len(named) != 1:
            steps.append(JudgeStep("judge reply", [Finding(plain(dict(named)))], cached))
            continue
        ((name, body),) = named
        if name == "batch_failed":
            retried = "a batched call failed; its prompts were asked one by one"
            steps.append(JudgeStep(retried, [Finding(plain(body))]))
            continue
        step = _step(name, body, statements)
        if isinstance(body, dict) and _is_list_of(body.get("statements"), str):
            statements = [str(s) for s in body["statements"]]
        if step.title in MERGED and steps and steps[-1].title == step.title:
            steps[-1].findings += step.findings  # e.g. one step for all passages of a question
            steps[-1].cached = steps[-1].cached or cached
            continue
        step.cached = cached
        if step.title == DRAWN and steps and steps[-1].title == DRAWN:
            step.title = DRAWN_REFERENCE  # answer correctness: the answer's, then the reference's
        if step.title == CHECKED and steps and steps[-1].title == DRAWN:
            step.cached = cached or steps[-1].cached
            steps[-1] = step  # the statements, now with their verdicts
            continue
        steps.append(step)
    for step in steps:  # number the passages in the order their verdicts were recorded
        if step.title == PASSAGES:
            step.findings = [
                Finding(f"passage {k}", f.verdict, f.reason, f.ok)
                for k, f in enumerate(step.findings, start=1)
            ]
    return steps


def _is_list_of(value: Any, kind: type) -> bool:
    return isinstance(value, list) and all(isinstance(v, kind) for v in value)


def _step(name: str, body: Any, statements: list[str]) -> JudgeStep:
    """One reply as a step, recognised by its shape."""
    if not isinstance(body, dict):
        return JudgeStep(name, [Finding(plain(body))])
    if _is_list_of(body.get("statements"), str):
        return JudgeStep(DRAWN, [Finding(str(s)) for s in body["statements"]])
    if _is_list_of(body.get("statements"), dict):  # ragas' NLI reply: statement, reason, verdict
        return JudgeStep(CHECKED, _verdicts(body["statements"], [], "supported", "not supported"))
    if _is_list_of(body.get("verdicts"), dict) and set(body) == {"verdicts"}:  # compact NLI reply
        found = _verdicts(body["verdicts"], statements, "supported", "not supported")
        return JudgeStep(CHECKED, found)
    if _is_verdict(body):
        ok = _binary(body["verdict"])
        verdict = None if ok is None else ("useful" if ok else "not useful")
        return JudgeStep(PASSAGES, [Finding("passage", verdict, str(body["reason"]), ok)])
    if _is_list_of(body.get("classifications"), dict):
        found = _verdicts(body["classifications"], [], "attributed", "not attributed")
        return JudgeStep("statements of the reference answer, found in the passages or not", found)
    if "question" in body and "noncommittal" in body:
        evasive = bool(_binary(body["noncommittal"]))
        verdict = "the answer is evasive" if evasive else None
        return JudgeStep(QUESTIONS, [Finding(str(body["question"]), verdict, None, not evasive)])
    if set(CORRECTNESS) <= set(body) and all(_is_list_of(body[k], dict) for k in CORRECTNESS):
        listed = [
            Finding(str(item.get("statement", "")), where, _text(item.get("reason")), key == "TP")
            for key, where in CORRECTNESS.items()
            for item in body[key]
        ]
        return JudgeStep("statements of the answer and of the reference answer", listed)
    return JudgeStep(name, [Finding(f"{k}: {plain(v)}") for k, v in body.items()])


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def step_lines(steps: list[JudgeStep], indent: str = "      ") -> list[str]:
    """The steps as text: a title line, then one line per finding ("- subject: verdict (reason)")."""
    lines = []
    for step in steps:
        lines.append(f"{indent}{step.title}" + (" (cached)" if step.cached else "") + ":")
        for f in step.findings:
            verdict = f" \u2192 {f.verdict}" if f.verdict else ""
            reason = f" ({f.reason})" if f.reason else ""
            lines.append(f"{indent}  - {f.subject}{verdict}{reason}")
    return lines
