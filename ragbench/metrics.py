"""Retrieval metrics: one definition for every metric, no LLM, computed for every question.

Contract:
- ``retrieval_scores(retrieved_doc_ids, gold_doc_ids, metrics, *, k, contexts=None,
  gold_spans=None, gains=None)`` -> {metric: value} for the names in ``metrics`` among
  hit_rate, mrr, recall, ndcg and span_coverage; names it does not know (judged metrics) are
  ignored. A question with no gold document gets ``{}``: the metrics do not apply, which is
  different from scoring 0. span_coverage applies only to questions with gold spans.
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

__all__ = [
    "RANKED_METRICS",
    "distinct_docs",
    "hit_rate",
    "mrr",
    "ndcg",
    "recall",
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
) -> dict[str, float]:
    """The retrieval metrics that apply to one question, by name.

    Args:
        retrieved_doc_ids: the doc id of each retrieved chunk, best first.
        gold_doc_ids: the question's gold doc ids; none means the metrics do not apply (``{}``).
        metrics: the experiment's metric names; names other than hit_rate, mrr, recall, ndcg and
            span_coverage are ignored.
        k: the trial's ``top_k``: the cutoff of every ranked metric, whatever the list's length.
        contexts: the retrieved chunks' texts, for ``span_coverage``.
        gold_spans: verbatim evidence; ``span_coverage`` applies only when there is some.
        gains: graded relevance for ``ndcg`` (doc id -> gain), see :func:`ndcg`.

    Returns:
        {metric: value in [0, 1]} for each applicable requested metric.
    """
    _check_k(k)
    if not gold_doc_ids:
        return {}
    scores: dict[str, float] = {}
    for name, fn in RANKED_METRICS.items():
        if name not in metrics:
            continue
        extra = {"gains": gains} if name == "ndcg" else {}
        scores[name] = fn(retrieved_doc_ids, gold_doc_ids, k=k, **extra)
    if "span_coverage" in metrics and gold_spans:
        scores["span_coverage"] = span_coverage(contexts or [], gold_spans)
    return scores
