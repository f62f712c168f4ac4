"""Working on candidates: draft with the LLM, screen with the cheap filters, check with the LLM.

Contract: ``Worker(caller, texts, index, deduper)`` takes a :class:`~ragbench.synth.plan.Candidate`
through ``draft`` (one generation call), ``screen`` (span alignment, self-containment, answer
leak, duplicate against the accepted questions), ``check`` (one short answerability call) and
``finish`` (duplicate against questions accepted earlier in the same batch, then accepted). A step
does nothing to a candidate that is already rejected, so the LLM check only sees candidates that
passed every cheap filter. Rejection reasons are ``"<filter name>: <detail>"`` with the names in
:data:`FILTERS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ragbench.metrics.text import content_words
from ragbench.synth import prompts
from ragbench.synth.align import MIN_WORDS, Alignment, align_span, strip_wrappers
from ragbench.synth.filters import Deduper, leak, make_self_contained
from ragbench.synth.llm import InvalidOutput, JsonCaller
from ragbench.synth.plan import Candidate
from ragbench.synth.sampling import Passage, PassageIndex, fact_sentence

FILTERS = (
    "invalid output",
    "span not found",
    "not self-contained",
    "leaks the answer",
    "duplicate",
    "not answerable from the span",
    "answerable from the corpus",
)
ROUND_TRIP_SHARE = 0.5  # content words the check's answer and the reference must share (of either)
CORPUS_CHECK_K = 3  # passages retrieved for the "is this really unanswerable?" check


def _short(text: str, width: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


class Worker:
    """The steps of one candidate (see the module docstring)."""

    def __init__(
        self,
        caller: JsonCaller,
        texts: Mapping[str, str],
        index: PassageIndex,
        deduper: Deduper,
    ) -> None:
        self.caller = caller
        self.texts = texts  # doc_id -> the document's text
        self.index = index
        self.deduper = deduper

    # --- the generation call -------------------------------------------------------------------
    def draft(self, c: Candidate) -> None:
        reply: Any
        if c.kind == "single":
            source = c.sources[0]
            picked = fact_sentence(source, self.texts[source.doc_id])
            if picked is None:
                c.reject("span not found", f"no usable fact sentence in {source.doc_id}")
                return
            sentence = self.texts[source.doc_id][picked[0] : picked[1]]
            prompt = prompts.from_sentence(source, sentence)
            reply = self.caller.ask(
                prompt, prompts.QuestionReply, prompts.MAX_TOKENS["from_sentence"]
            )
            if not isinstance(reply, InvalidOutput):
                c.evidence = [sentence]
        elif c.kind == "multi":
            prompt = prompts.multi(*c.sources)
            reply = self.caller.ask(prompt, prompts.MultiReply, prompts.MAX_TOKENS["multi"])
        else:
            prompt = prompts.unanswerable(c.sources[0])
            reply = self.caller.ask(
                prompt, prompts.UnanswerableReply, prompts.MAX_TOKENS["unanswerable"]
            )
        if isinstance(reply, InvalidOutput):
            c.reject("invalid output", reply.detail)
            return
        c.question = reply.question.strip()
        if c.kind == "multi":
            c.evidence = [reply.evidence_1, reply.evidence_2]
        if c.kind != "unanswerable":
            c.answer = reply.answer.strip()
        if not c.question:
            c.reject("invalid output", "empty question")
        elif c.kind != "unanswerable" and not c.answer:
            c.reject("invalid output", "empty answer")

    # --- the cheap filters ---------------------------------------------------------------------
    def _align(self, evidence: str, p: Passage) -> Alignment | None:
        return align_span(evidence, self.texts[p.doc_id], p.start, p.end)

    def _not_found(self, evidence: str, p: Passage, label: str = "evidence") -> str:
        quote = strip_wrappers(evidence)
        if len(quote.split()) < MIN_WORDS:
            return f'{label} "{_short(quote)}" is too short to locate (< {MIN_WORDS} words)'
        return f'{label} "{_short(quote)}" is not in {p.doc_id} ({p.start}-{p.end})'

    def _locate(self, c: Candidate) -> bool:
        """Fill ``c.spans`` from the evidence; False (and rejected) when it cannot be found."""
        pairs: list[tuple[Passage, Alignment]] = []
        if c.kind == "single":
            found = self._align(c.evidence[0], c.sources[0])
            if found is None:
                c.reject("span not found", self._not_found(c.evidence[0], c.sources[0]))
                return False
            pairs = [(c.sources[0], found)]
        else:
            (e1, e2), (p1, p2) = c.evidence, c.sources
            a1, a2 = self._align(e1, p1), self._align(e2, p2)
            if not (a1 and a2):  # the model may have swapped them: each must still find its own
                b1, b2 = self._align(e2, p1), self._align(e1, p2)
                if b1 and b2:
                    a1, a2 = b1, b2
            if a1 is None or a2 is None:
                for p in (p1, p2):  # a small model tends to quote both from the last passage
                    if self._align(e1, p) and self._align(e2, p):
                        c.reject(
                            "span not found",
                            f"both evidence spans are from {p.doc_id}: a multi-passage question "
                            "needs one from each document",
                        )
                        return False
                missing = [
                    self._not_found(e, p, f"evidence_{i}")
                    for i, (e, p, a) in enumerate(((e1, p1, a1), (e2, p2, a2)), start=1)
                    if a is None
                ]
                c.reject("span not found", "; ".join(missing))
                return False
            pairs = [(p1, a1), (p2, a2)]
        c.spans = [
            {
                "doc_id": p.doc_id,
                "start": a.start,
                "end": a.end,
                "method": a.method,
                "score": a.score,
            }
            for p, a in pairs
        ]
        return True

    def span_texts(self, c: Candidate) -> list[str]:
        return [self.texts[s["doc_id"]][s["start"] : s["end"]] for s in c.spans]

    def screen(self, c: Candidate) -> None:
        if c.reason is not None:
            return
        if c.kind != "unanswerable" and not self._locate(c):
            return
        fixed, problem = make_self_contained(c.question)
        if problem is not None:
            c.reject("not self-contained", problem)
            return
        if fixed != c.question:
            c.original, c.question = c.question, fixed
        if c.kind != "unanswerable":
            problem = leak(c.question, c.answer, " ".join(self.span_texts(c)))
            if problem is not None:
                c.reject("leaks the answer", problem)
                return
        c.vector = self.deduper.vector(c.question)
        twin = self.deduper.check(c.vector)
        if twin is not None:
            c.reject("duplicate", twin)

    # --- the answerability call ----------------------------------------------------------------
    def check(self, c: Candidate) -> None:
        if c.reason is not None:
            return
        if c.kind == "unanswerable":
            hits = [p for p, _score in self.index.search(c.question, CORPUS_CHECK_K)]
            c.checked_against = [f"{p.doc_id}:{p.start}-{p.end}" for p in hits]
            if not hits:  # no passage shares a word with it: nothing to answer from
                return
            texts = [p.text for p in hits]
        else:
            self._round_trip(c)
            return
        verdict = self.caller.ask(
            prompts.check(c.question, texts), prompts.Verdict, prompts.MAX_TOKENS["check"]
        )
        if isinstance(verdict, InvalidOutput):
            c.reject("invalid output", f"answerability check: {verdict.detail}")
        elif c.kind == "unanswerable" and verdict.answerable:
            docs = ", ".join(dict.fromkeys(p.split(":")[0] for p in c.checked_against))
            c.reject(
                "answerable from the corpus",
                f"the checker answered it from the top {len(texts)} passages ({docs})",
            )
        elif c.kind != "unanswerable" and not verdict.answerable:
            what = "span" if len(texts) == 1 else f"{len(texts)} spans"
            c.reject(
                "not answerable from the span", f"the checker could not answer it from the {what}"
            )

    def _round_trip(self, c: Candidate) -> None:
        """Answer the question from the span(s) alone; keep it if that answer agrees with the
        reference: at least half the content words of one appear in the other."""
        texts = self.span_texts(c)
        reply = self.caller.ask(
            prompts.answer_check(c.question, texts),
            prompts.AnswerReply,
            prompts.MAX_TOKENS["answer_check"],
        )
        if isinstance(reply, InvalidOutput):
            c.reject("invalid output", f"answerability check: {reply.detail}")
            return
        c.check_answer = reply.answer
        given, reference = content_words(reply.answer), content_words(c.answer)
        shared = len(given & reference)
        agree = bool(given and reference) and (
            shared >= ROUND_TRIP_SHARE * len(reference) or shared >= ROUND_TRIP_SHARE * len(given)
        )
        if not agree:
            what = "span" if len(texts) == 1 else f"{len(texts)} spans"
            c.reject(
                "not answerable from the span",
                f'answered from the {what} alone: "{_short(reply.answer, 60)}", which does not '
                f'agree with the reference "{_short(c.answer, 60)}"',
            )

    def finish(self, c: Candidate) -> None:
        """Last duplicate test, against questions accepted earlier in this batch; then accept."""
        if c.reason is not None:
            return
        twin = self.deduper.check(c.vector)
        if twin is not None:
            c.reject("duplicate", twin)
        else:
            self.deduper.add(c.question_id, c.vector)
