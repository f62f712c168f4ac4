"""Does a question name what it is about? A retrieval check, no LLM.

In a corpus of many documents, "What is the batch size used in the training of the models?" has
as many answers as there are papers: a user who asks it cannot be answered, and a retriever that
misses "its" paper is not wrong. A question stands alone when its own document is among the best
matches of the corpus's documents, not clearly beaten by another.

Contract: ``specificity(index, question, doc_id) -> Specificity``: BM25 (the synth
``PassageIndex``) scores the question against every passage; each document scores by its best
passage; ``margin = (own - best other) / own`` (1: no other document matches at all; 0: another
matches as well; -0.3: another scores 1.3 times as much; -1: the own document does not match).
A single-passage question in a corpus of 2 documents or more is rejected as ``not specific to
its document`` when ``margin < SPECIFIC_MARGIN``. The best other document and its passage are kept
for the optional LLM step (``Worker``, ``other_doc_check``), which answers the question from that
passage and rejects the question when that answer agrees with the reference.

The margin was chosen by ``benchmarks/standalone_margin.py`` on a labelled sample: the 55
pg-essays questions people wrote (all stand alone) and vague questions modelled on issue 21's
examples asked of pg-essays and of the 98 COVID-QA papers. Requiring the own document to rank
first (margin > 0) would reject a third of the people's questions (several essays treat one
subject); at -0.3 it keeps 95% of them and rejects 90% of the vague ones (table in
docs/own-documents.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from ragbench.synth.sampling import Passage, PassageIndex

# Chosen 2026-12-07 by benchmarks/standalone_margin.py: keeps 95% of the pg-essays questions people
# wrote (85% of COVID-QA's) and rejects 90% of vague questions (91% on COVID-QA).
SPECIFIC_MARGIN = -0.3
SEARCH_K = 200  # passages scored: the own document's best passage is among them when it matters


@dataclass(frozen=True)
class Specificity:
    margin: float
    own: float  # the own document's best BM25 score
    other: float  # the best score of any other document
    other_doc: str | None
    other_passage: Passage | None

    def detail(self, doc_id: str) -> str:
        """The rejection detail: which document matches the question better."""
        if self.own <= 0:
            return f"it shares no searchable word with {doc_id}"
        return (
            f"{self.other_doc} matches it better than {doc_id} (BM25 {self.other:.1f} vs "
            f"{self.own:.1f}, margin {self.margin:.2f} < {SPECIFIC_MARGIN}): name what it is about"
        )


def specificity(index: PassageIndex, question: str, doc_id: str, k: int = SEARCH_K) -> Specificity:
    """How clearly ``doc_id`` is the question's best document (see the module docstring)."""
    best: dict[str, tuple[float, Passage]] = {}
    for passage, score in index.search(question, k):
        if passage.doc_id not in best or score > best[passage.doc_id][0]:
            best[passage.doc_id] = (score, passage)
    own = best.get(doc_id, (0.0, None))[0]
    others = [(score, d, p) for d, (score, p) in best.items() if d != doc_id]
    other, other_doc, other_passage = max(others, key=lambda t: t[0], default=(0.0, None, None))
    if own <= 0:
        margin = -1.0
    else:
        margin = (own - other) / own
    return Specificity(margin, own, other, other_doc, other_passage)


def documents(index: PassageIndex) -> int:
    """How many documents the index holds (the check needs two)."""
    return len({p.doc_id for p in index.passages})
