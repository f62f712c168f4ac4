"""Metrics without an LLM: retrieval metrics for every question, and ``abstained`` for answers.

Contract:
- ``retrieval_scores(retrieved_doc_ids, gold_doc_ids, metrics, *, k, contexts=None,
  gold_spans=None, gains=None, reference=None, answerable=True)`` -> {metric: value} for the
  names in ``metrics`` among hit_rate, mrr, recall, ndcg, span_coverage (from the gold labels)
  and reference_recall (from the reference answer); names it does not know (judged metrics) are
  ignored. A metric that does not apply is absent, which is different from scoring 0: the
  gold-label metrics need gold documents (span_coverage gold spans), reference_recall an
  answerable question whose reference answer has a content word.
- ``reference_recall(contexts, reference, *, k)``: the share of the reference answer's content
  words found in the top ``k`` retrieved texts (see its docstring); computed from the reference,
  not from gold labels, so sets with answers but no document labels get a retrieval score.
- ``abstained(response)``: 1.0 when an answer declines (``prompts.NOT_FOUND`` or an equivalent
  refusal, :func:`declines`), else 0.0; the run scores it for unanswerable questions only.
- Every ranked metric first collapses the retrieved chunks' doc ids to distinct documents (the
  first occurrence keeps its rank), then cuts that ranking at ``k``, the trial's ``top_k``.
  ``k`` is always passed explicitly, never taken from the list's length, so a retriever that
  returns fewer items (auto-merging, the access filter, BM25 on a small corpus) is scored
  against the same ideal as one that returns ``k``.
- hit_rate, mrr and recall are binary: every gold document is relevant. Graded ``gains`` (doc id
  -> gain, for gold documents) change only ndcg.
- On the distinct-document ranking the values equal what ir-measures (trec_eval's conventions)
  computes for ``Success@k``, ``RR@k``, ``R@k`` and ``nDCG@k``; tests/test_metrics.py checks this
  on seeded random runs to 1e-9.
- Bad input (``k`` < 1, a gold document's gain that is not a positive finite number, a non-zero
  gain for a document that is not gold) raises ValueError with a one-line message; nothing
  returns NaN.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Callable, Mapping, Sequence

from ragbench.pipeline.prompts import NOT_FOUND

__all__ = [
    "ANSWER_SCORES",
    "RANKED_METRICS",
    "STOPWORDS",
    "abstained",
    "applies",
    "content_words",
    "declines",
    "distinct_docs",
    "hit_rate",
    "mrr",
    "ndcg",
    "recall",
    "reference_recall",
    "retrieval_scores",
    "span_coverage",
]


def distinct_docs(retrieved_doc_ids: Sequence[str]) -> list[str]:
    """The retrieved documents in rank order, each once, at the rank of its first chunk.

    Args:
        retrieved_doc_ids: the doc id of each retrieved chunk, best first.

    Returns:
        The distinct doc ids, e.g. ``["d3", "d1", "d3", "d2"]`` -> ``["d3", "d1", "d2"]``.
    """
    return list(dict.fromkeys(retrieved_doc_ids))


def _check_k(k: int) -> None:
    # bool is an int subclass; True as a cutoff is a caller bug, not k=1.
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer (the trial's top_k), got {k!r}")


def _top_k(retrieved_doc_ids: Sequence[str], k: int) -> list[str]:
    _check_k(k)
    return distinct_docs(retrieved_doc_ids)[:k]


def hit_rate(retrieved_doc_ids: Sequence[str], gold_doc_ids: Sequence[str], *, k: int) -> float:
    """hit@k: 1.0 if a gold document is among the top ``k`` distinct documents, else 0.0.

    Args:
        retrieved_doc_ids: the doc id of each retrieved chunk, best first.
        gold_doc_ids: the relevant documents (duplicates count once).
        k: the cutoff, the trial's ``top_k``.
    """
    gold = set(gold_doc_ids)
    return 1.0 if any(d in gold for d in _top_k(retrieved_doc_ids, k)) else 0.0


def mrr(retrieved_doc_ids: Sequence[str], gold_doc_ids: Sequence[str], *, k: int) -> float:
    """MRR@k for one question: 1 / rank of the first gold document among the top ``k`` distinct
    documents, 0.0 if there is none (the mean over questions is the MRR).

    Ranks count distinct documents, not chunks: ``["x", "x", "g"]`` puts gold ``g`` at rank 2.

    Args:
        retrieved_doc_ids: the doc id of each retrieved chunk, best first.
        gold_doc_ids: the relevant documents.
        k: the cutoff, the trial's ``top_k``.
    """
    gold = set(gold_doc_ids)
    for rank, doc_id in enumerate(_top_k(retrieved_doc_ids, k), start=1):
        if doc_id in gold:
            return 1.0 / rank
    return 0.0


def recall(retrieved_doc_ids: Sequence[str], gold_doc_ids: Sequence[str], *, k: int) -> float:
    """recall@k: the fraction of the distinct gold documents found among the top ``k`` distinct
    documents. With more gold documents than ``k`` it cannot reach 1.0 (the standard recall@k).

    Args:
        retrieved_doc_ids: the doc id of each retrieved chunk, best first.
        gold_doc_ids: the relevant documents; must not be empty.
        k: the cutoff, the trial's ``top_k``.
    """
    gold = set(gold_doc_ids)
    if not gold:
        raise ValueError("recall needs at least one gold document")
    return sum(d in gold for d in _top_k(retrieved_doc_ids, k)) / len(gold)


def _gain_table(gold_doc_ids: Sequence[str], gains: Mapping[str, float] | None) -> dict[str, float]:
    gold = dict.fromkeys(gold_doc_ids, 1.0)
    for doc_id, gain in (gains or {}).items():
        if isinstance(gain, bool) or not isinstance(gain, numbers.Real):
            raise ValueError(f"gain of {doc_id!r} must be a number, got {gain!r}")
        if doc_id not in gold:
            # trec qrels list judged non-relevant documents with 0: the same as not listing them.
            if gain != 0:
                raise ValueError(
                    f"gains give document {doc_id!r} gain {gain!r}, but it is not a gold document"
                )
            continue
        if not (math.isfinite(gain) and gain > 0):
            raise ValueError(
                f"gain of gold document {doc_id!r} must be a positive finite number, got {gain!r}"
            )
        gold[doc_id] = float(gain)
    return gold


def _dcg(gains_in_rank_order: Sequence[float]) -> float:
    return sum(g / math.log2(rank + 1) for rank, g in enumerate(gains_in_rank_order, start=1))


def ndcg(
    retrieved_doc_ids: Sequence[str],
    gold_doc_ids: Sequence[str],
    *,
    k: int,
    gains: Mapping[str, float] | None = None,
) -> float:
    """nDCG@k with linear gains and a log2(rank + 1) discount (trec_eval's ``ndcg_cut.k``).

    DCG@k = sum over the top ``k`` distinct documents of gain(doc) / log2(rank + 1), where
    gain is 0 for a document that is not gold. The ideal DCG@k ranks *all* gold documents by
    gain, highest first, and cuts that ranking at ``k``; a list shorter than ``k`` is therefore
    measured against the full ideal. nDCG@k = DCG@k / ideal DCG@k.

    Args:
        retrieved_doc_ids: the doc id of each retrieved chunk, best first.
        gold_doc_ids: the relevant documents; must not be empty.
        k: the cutoff, the trial's ``top_k``.
        gains: graded relevance, doc id -> gain: > 0 for a gold document (one it leaves out has
            gain 1.0); a document that is not gold may appear only with gain 0 (trec qrels list
            judged non-relevant documents so). None means binary gains (every gold document 1.0).
    """
    table = _gain_table(gold_doc_ids, gains)
    if not table:
        raise ValueError("ndcg needs at least one gold document")
    dcg = _dcg([table.get(d, 0.0) for d in _top_k(retrieved_doc_ids, k)])
    ideal = _dcg(sorted(table.values(), reverse=True)[:k])
    return dcg / ideal


def _collapse(text: str) -> str:
    return " ".join(text.split()).lower()


SPAN_PREFIX_CHARS = 60  # a long span cut by a chunk boundary still has its opening in one chunk


def span_coverage(contexts: Sequence[str], gold_spans: Sequence[str]) -> float:
    """1.0 if any retrieved chunk contains any gold span, else 0.0.

    Text-based, so it reads every retrieved chunk's text (the trial returns at most ``top_k``).
    Text is compared whitespace-collapsed and case-insensitively (chunkers re-flow whitespace).
    A span longer than a chunk's overlap can be cut by a chunk boundary, so a chunk that contains
    the span's first ``SPAN_PREFIX_CHARS`` characters also counts. Empty spans are ignored.

    Args:
        contexts: the retrieved chunks' texts.
        gold_spans: verbatim evidence from the gold documents.
    """
    texts = [_collapse(c) for c in contexts]
    for span in gold_spans:
        needle = _collapse(span)
        if not needle:
            continue
        probes = {needle, needle[:SPAN_PREFIX_CHARS]}
        if any(p in t for t in texts for p in probes):
            return 1.0
    return 0.0


# Function words that carry no content: a reference's "the" or "is" found in a chunk says nothing.
_STOPWORDS = """
a about after all also an and any are as at be been before but by can could did do does for from
had has have he her his how i if in into is it its may might more most my no nor not of on or our
she should so such than that the their them then there these they this those to too under up was
we were what when where which while who whom why will with would you your
"""
STOPWORDS = frozenset(_STOPWORDS.split())
_WORD = re.compile(r"\w+")


def content_words(text: str) -> set[str]:
    """The distinct lowercased word tokens (``\\w+``) of ``text`` that are not in STOPWORDS."""
    return {w for w in _WORD.findall(text.lower()) if w not in STOPWORDS}


def reference_recall(contexts: Sequence[str], reference: str, *, k: int) -> float:
    """Reference recall@k: how much of the reference answer the top ``k`` retrieved texts hold.

    Computed from the reference answer, not from gold labels: the share of the reference's
    content words (lowercased ``\\w+`` tokens minus :data:`STOPWORDS`, each counted once) that
    occur as words in the first ``k`` retrieved texts. 1.0 means every content word of the
    reference appears in what was retrieved; 0.0 that none does. Word overlap, not meaning: a
    paraphrase scores lower than the same fact in the reference's words.

    Args:
        contexts: the retrieved chunks' texts, best first.
        reference: the reference answer; must have at least one content word.
        k: the cutoff, the trial's ``top_k``.

    Raises:
        ValueError: ``k`` < 1, or the reference has no content word.
    """
    _check_k(k)
    wanted = content_words(reference)
    if not wanted:
        raise ValueError("reference_recall needs a reference answer with a content word")
    found = set().union(*(content_words(c) for c in contexts[:k])) if contexts else set()
    return len(wanted & found) / len(wanted)


# Refusals the answer prompts ask for (prompts.NOT_FOUND) and the usual ways models say the same;
# each names the speaker or the sources, so "the fee does not include VAT" is not a refusal.
_SOURCES = r"(?:documents?|sources?|context|passages?|texts?|knowledge base|information)"
_REFUSALS = re.compile(
    r"\bi (?:do not|don't|cannot|can't|am unable to|am not able to) "
    r"(?:know|answer|tell|say|find|determine)\b"
    rf"|\b{_SOURCES}(?: provided| given| above| available)? "
    r"(?:do not|does not|did not|don't|doesn't|didn't) "
    r"(?:contain|include|say|mention|provide|specify|state|answer|have)\b"
    r"|\bnot (?:mentioned|stated|provided|specified|found|given|available) in the "
    rf"(?:provided |given |above )?{_SOURCES}"
    r"|\bno (?:information|mention)\b"
    r"|\b(?:cannot|can't|could not|couldn't) be (?:answered|determined|found)\b"
    r"|\bunable to (?:answer|find|determine)\b"
)


def declines(response: str) -> bool:
    """True when an answer declines to answer: it contains ``prompts.NOT_FOUND`` or an equivalent
    refusal (e.g. "I don't know", "the documents do not mention", "no information"), compared
    case-insensitively with curly apostrophes made straight."""
    text = " ".join(response.replace("\u2019", "'").split()).lower()
    return NOT_FOUND.lower() in text or _REFUSALS.search(text) is not None


def abstained(response: str) -> float:
    """1.0 if the answer declines (:func:`declines`), else 0.0: for questions the corpus cannot
    answer, where declining is the right answer (the run scores no other question with it)."""
    return 1.0 if declines(response) else 0.0


# Metrics read from an answer without a model (components.ANSWER_METRICS), by name.
ANSWER_SCORES: dict[str, Callable[[str], float]] = {"abstained": abstained}


def applies(metric: str, answerable: bool) -> bool:
    """Whether an answer metric applies to a question: ``abstained`` only to unanswerable ones
    (declining an answerable question is not a virtue the mean should reward)."""
    return metric not in ANSWER_SCORES or not answerable


# Metrics of the retrieved doc ids against the gold doc ids; span_coverage reads texts instead.
RANKED_METRICS: dict[str, Callable[..., float]] = {
    "hit_rate": hit_rate,
    "mrr": mrr,
    "recall": recall,
    "ndcg": ndcg,
}


def retrieval_scores(
    retrieved_doc_ids: Sequence[str],
    gold_doc_ids: Sequence[str],
    metrics: Sequence[str],
    *,
    k: int,
    contexts: Sequence[str] | None = None,
    gold_spans: Sequence[str] | None = None,
    gains: Mapping[str, float] | None = None,
    reference: str | None = None,
    answerable: bool = True,
) -> dict[str, float]:
    """The retrieval metrics that apply to one question, by name.

    Args:
        retrieved_doc_ids: the doc id of each retrieved chunk, best first.
        gold_doc_ids: the question's gold doc ids; none means the gold-label metrics do not apply.
        metrics: the experiment's metric names; names other than hit_rate, mrr, recall, ndcg,
            span_coverage and reference_recall are ignored.
        k: the trial's ``top_k``: the cutoff of every ranked metric, whatever the list's length.
        contexts: the retrieved chunks' texts, for ``span_coverage`` and ``reference_recall``.
        gold_spans: verbatim evidence; ``span_coverage`` applies only when there is some.
        gains: graded relevance for ``ndcg`` (doc id -> gain), see :func:`ndcg`.
        reference: the reference answer, for ``reference_recall``.
        answerable: False for a question the corpus cannot answer: nothing applies (``{}``).

    Returns:
        {metric: value in [0, 1]} for each applicable requested metric.
    """
    _check_k(k)
    if not answerable:
        return {}
    scores: dict[str, float] = {}
    for name, fn in RANKED_METRICS.items():
        if name not in metrics or not gold_doc_ids:
            continue
        extra = {"gains": gains} if name == "ndcg" else {}
        scores[name] = fn(retrieved_doc_ids, gold_doc_ids, k=k, **extra)
    if "span_coverage" in metrics and gold_doc_ids and gold_spans:
        scores["span_coverage"] = span_coverage(contexts or [], gold_spans)
    if "reference_recall" in metrics and reference and content_words(reference):
        scores["reference_recall"] = reference_recall(contexts or [], reference, k=k)
    return scores
