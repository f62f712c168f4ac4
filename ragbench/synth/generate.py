"""Working on candidates: draft with the LLM, screen with the cheap filters, check with the LLM.

Contract: ``Worker(caller, texts, index, deduper)`` takes a :class:`~ragbench.synth.plan.Candidate`
through ``draft`` (one generation call), ``screen`` (span alignment, self-containment, citations,
layout pointers, answer leak, specificity to its document (``synth.specific``), duplicate against
the accepted questions), ``check`` (one short answerability call, then the optional LLM steps) and
``finish`` (duplicate against questions accepted earlier in the same batch, then accepted). A step
does nothing to a candidate that is already rejected, so the LLM check only sees candidates that
passed every cheap filter. Rejection reasons are ``"<filter name>: <detail>"`` with the names in
:data:`FILTERS`.

Optional LLM steps (off by default: each costs calls; the lead measures them on an idle machine):
``other_doc_check``: a single-passage question is answered from the best passage of the best
OTHER document (BM25); when that answer agrees with the reference, the question is
``not specific to its document``. ``both_check``: a multi-document question is answered from each
source passage alone; when either answer agrees with the reference, it
``does not need both passages``. Agreement is the round trip's (half the content words of one
answer in the other); for one passage of a multi-document question, its answer must hold 80% of
the reference's content words (half of "clams and barley" is what the other passage adds).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ragbench.metrics.text import content_words
from ragbench.synth import prompts
from ragbench.synth.align import MIN_WORDS, Alignment, align_span, strip_wrappers
from ragbench.synth.filters import (
    Deduper,
    cites_source,
    leak,
    make_self_contained,
    points_at_layout,
)
from ragbench.synth.llm import InvalidOutput, JsonCaller
from ragbench.synth.plan import Candidate
from ragbench.synth.sampling import Passage, PassageIndex, fact_sentence
from ragbench.synth.specific import SPECIFIC_MARGIN, documents, specificity

FILTERS = (
    "invalid output",
    "span not found",
    "not self-contained",
    "cites a source",
    "points at layout",
    "leaks the answer",
    "not specific to its document",
    "duplicate",
    "not answerable from the span",
    "does not need both passages",
    "answerable from the corpus",
)
ROUND_TRIP_SHARE = 0.5  # content words the check's answer and the reference must share (of either)
# of a multi-document reference's content words that ONE passage's answer must hold to show the
# question does not need the other passage (half of "clams and barley" is the half it needs)
BOTH_SHARE = 0.8
CORPUS_CHECK_K = 3  # passages retrieved for the "is this really unanswerable?" check


def _agrees(
    answer: str, reference: str, share: float = ROUND_TRIP_SHARE, either: bool = True
) -> bool:
    """At least ``share`` of the reference's content words are in the answer (or, ``either``,
    of the answer's in the reference)."""
    given, wanted = content_words(answer), content_words(reference)
    shared = len(given & wanted)
    return bool(given and wanted) and (
        shared >= share * len(wanted) or (either and shared >= share * len(given))
    )


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
        *,
        specific_margin: float | None = SPECIFIC_MARGIN,
        other_doc_check: bool = False,
        both_check: bool = False,
    ) -> None:
        self.caller = caller
        self.texts = texts  # doc_id -> the document's text
        self.index = index
        self.deduper = deduper
        # None: no specificity check; it also needs two documents to compare
        self.specific_margin = specific_margin if documents(index) >= 2 else None
        self.other_doc_check = other_doc_check
        self.both_check = both_check
        self.others: dict[str, Passage] = {}  # question_id -> best other document's passage

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
        for name, rule in (
            ("cites a source", cites_source),
            ("points at layout", points_at_layout),
        ):
            problem = rule(c.question)
            if problem is not None:
                c.reject(name, problem)
                return
        if c.kind != "unanswerable":
            problem = leak(c.question, c.answer, " ".join(self.span_texts(c)))
            if problem is not None:
                c.reject("leaks the answer", problem)
                return
        if c.kind == "single" and self.specific_margin is not None:
            doc_id = c.sources[0].doc_id
            found = specificity(self.index, c.question, doc_id)
            c.specificity = {"margin": round(found.margin, 3), "closest_other": found.other_doc}
            if found.margin < self.specific_margin:
                c.reject("not specific to its document", found.detail(doc_id))
                return
            if self.other_doc_check and found.other_passage is not None:
                self.others[c.question_id] = found.other_passage
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
            if c.kind == "single" and self.other_doc_check:
                self._other_document(c)
            elif c.kind == "multi" and self.both_check:
                self._needs_both(c)
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
        if not _agrees(reply.answer, c.answer):
            what = "span" if len(texts) == 1 else f"{len(texts)} spans"
            c.reject(
                "not answerable from the span",
                f'answered from the {what} alone: "{_short(reply.answer, 60)}", which does not '
                f'agree with the reference "{_short(c.answer, 60)}"',
            )

    def _answer_from(self, c: Candidate, text: str) -> str | None:
        """The model's answer to the question from ``text`` alone; None (and rejected as invalid
        output) when its reply is unusable."""
        reply = self.caller.ask(
            prompts.answer_check(c.question, [text]),
            prompts.AnswerReply,
            prompts.MAX_TOKENS["answer_check"],
        )
        if isinstance(reply, InvalidOutput):
            c.reject("invalid output", f"answerability check: {reply.detail}")
            return None
        return reply.answer

    def _other_document(self, c: Candidate) -> None:
        """Reject a question that the best passage of another document answers alike."""
        other = self.others.pop(c.question_id, None)
        if c.reason is not None or other is None:
            return
        answer = self._answer_from(c, other.text)
        if answer is not None and _agrees(answer, c.answer):
            c.reject(
                "not specific to its document",
                f'answered alike from {other.doc_id}: "{_short(answer, 60)}"; name what it '
                "is about",
            )

    def _needs_both(self, c: Candidate) -> None:
        """Reject a multi-document question that one of its passages answers alone."""
        for p in c.sources:
            if c.reason is not None:
                return
            answer = self._answer_from(c, p.text)
            if answer is not None and _agrees(answer, c.answer, BOTH_SHARE, either=False):
                c.reject(
                    "does not need both passages",
                    f'answered from {p.doc_id} alone: "{_short(answer, 60)}"',
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
