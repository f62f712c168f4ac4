"""Retrieval metrics: how well the retrieved chunks of one question match its labels, no model.

Contract:
- :data:`RETRIEVAL`: name -> :class:`~ragbench.metrics.spec.RetrievalSpec` of hit_rate, mrr,
  recall, ndcg, span_coverage (from the gold labels) and reference_recall (from the reference
  answer), each with what it ``needs`` from a question and whether it is 0/1.
- ``retrieval_scores(retrieved_doc_ids, gold_doc_ids, metrics, *, k, contexts=None,
  gold_spans=None, gains=None, reference=None, answerable=True)`` -> {metric: value} for the
  names in ``metrics`` that are in :data:`RETRIEVAL`; other names (judged metrics) are ignored.
  A metric that does not apply is absent, which is different from scoring 0: the gold-label
  metrics need gold documents (span_coverage gold spans too), reference_recall an answerable
  question whose reference answer has a content word; an unanswerable question gets none.
- ``reference_recall(contexts, reference, *, k)``: the share of the reference answer's content
  words found in the top ``k`` retrieved texts (see its docstring); computed from the reference,
  not from gold labels, so sets with answers but no document labels get a retrieval score.
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
from collections.abc import Callable, Mapping, Sequence

from ragbench.metrics.spec import RetrievalSpec, Retrieved
from ragbench.metrics.text import content_words

__all__ = [
    "NEEDS",
    "RETRIEVAL",
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


def reference_recall(contexts: Sequence[str], reference: str, *, k: int) -> float:
    """Reference recall@k: how much of the reference answer the top ``k`` retrieved texts hold.

    Computed from the reference answer, not from gold labels: the share of the reference's
    content words (lowercased ``\\w+`` tokens minus ``text.STOPWORDS``, each counted once) that
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


RETRIEVAL: dict[str, RetrievalSpec] = {
    "hit_rate": RetrievalSpec(
        description="a gold document is among the top_k retrieved",
        score=lambda r: hit_rate(r.doc_ids, r.gold_doc_ids, k=r.k),
        needs=("gold_doc_ids",),
        binary=True,
    ),
    "mrr": RetrievalSpec(
        description="1 / rank of the first gold document",
        score=lambda r: mrr(r.doc_ids, r.gold_doc_ids, k=r.k),
        needs=("gold_doc_ids",),
    ),
    "recall": RetrievalSpec(
        description="the share of the gold documents among the top_k retrieved",
        score=lambda r: recall(r.doc_ids, r.gold_doc_ids, k=r.k),
        needs=("gold_doc_ids",),
    ),
    "ndcg": RetrievalSpec(
        description="the whole ranking against the gold documents",
        score=lambda r: ndcg(r.doc_ids, r.gold_doc_ids, k=r.k, gains=r.gains),
        needs=("gold_doc_ids",),
    ),
    "span_coverage": RetrievalSpec(
        description="a retrieved chunk holds the gold evidence span",
        score=lambda r: span_coverage(r.contexts, r.gold_spans),
        needs=("gold_doc_ids", "gold_spans"),
        binary=True,
    ),
    "reference_recall": RetrievalSpec(
        description="share of the reference answer's words in the retrieved text (no labels)",
        score=lambda r: reference_recall(r.contexts, r.reference, k=r.k),
        needs=("reference",),
    ),
}

#: Whether a question has what a metric ``needs``, by field.
NEEDS: dict[str, Callable[[Retrieved], bool]] = {
    "gold_doc_ids": lambda r: bool(r.gold_doc_ids),
    "gold_spans": lambda r: bool(r.gold_spans),
    "reference": lambda r: bool(content_words(r.reference)),
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
        metrics: the experiment's metric names; names not in :data:`RETRIEVAL` are ignored.
        k: the trial's ``top_k``: the cutoff of every ranked metric, whatever the list's length.
        contexts: the retrieved chunks' texts, for ``span_coverage`` and ``reference_recall``.
        gold_spans: verbatim evidence; ``span_coverage`` applies only when there is some.
        gains: graded relevance for ``ndcg`` (doc id -> gain), see :func:`ndcg`.
        reference: the reference answer, for ``reference_recall``.
        answerable: False for a question the corpus cannot answer: nothing applies (``{}``).

    Returns:
        {metric: value in [0, 1]} for each applicable requested metric, in table order.
    """
    _check_k(k)
    if not answerable:
        return {}
    retrieved = Retrieved(
        doc_ids=retrieved_doc_ids,
        gold_doc_ids=gold_doc_ids or (),
        k=k,
        contexts=contexts or (),
        gold_spans=gold_spans or (),
        gains=gains,
        reference=reference or "",
    )
    return {
        name: spec.score(retrieved)
        for name, spec in RETRIEVAL.items()
        if name in metrics and all(NEEDS[need](retrieved) for need in spec.needs)
    }
