"""Judged metrics: ragas 0.4 metrics scored by the judge LLM and/or its embedding model.

Contract: :data:`JUDGED` maps each name to a :class:`~ragbench.metrics.spec.JudgedSpec` that says
everything ``judge.scoring.Judge`` needs: the ragas sample fields it reads (exactly these reach
``ascore`` and the verdict's cache key), whether it calls the judge LLM and/or reads the judge
embedding, whether its value is a cosine to clip to [0, 1], why ragas' NaN means it is undefined,
and how it is built: ``build(llm, embeddings, settings)`` with the judge's ragas adapters
(``judge.adapter``) and :class:`~ragbench.metrics.spec.JudgeSettings`. With ``prompts: compact``
faithfulness and context precision are ``judge.prompts``' variants (ragas' definitions, fewer
generated tokens); every other metric is ragas' own with either setting. Faithfulness' NLI replies
are checked and a degenerate one asked again one statement at a time (``judge.faithfulness``;
``judge.repair``, ``judge.nli``). Faithfulness ("supported / not supported") and answer
correctness ("correct / not correct", against the reference) declare a ``label``: people can label
them, and the report then corrects their judged means with the labels (``stats.ppi``).

ragas is imported inside each ``build`` (it is slow to import): listing or validating metrics
loads none of it.
"""

from __future__ import annotations

from typing import Any

from ragbench.judge import faithfulness as judge_faithfulness
from ragbench.judge import prompts as judge_prompts
from ragbench.metrics.spec import JudgedSpec, JudgeSettings, LabelSpec, Scorer
from ragbench.metrics.text import focus


def _faithfulness(llm: Any, embeddings: Any, settings: JudgeSettings) -> Scorer:
    # Either prompt style; its NLI replies checked and repaired unless judge.repair is false, a
    # re-asked statement shown the sentences of the context that share its words.
    return judge_faithfulness.faithfulness(
        llm, prompts=settings.prompts, repair=settings.repair, nli=settings.nli, focus=focus
    )


def _answer_relevancy(llm: Any, embeddings: Any, settings: JudgeSettings) -> Scorer:
    from ragas.metrics.collections import AnswerRelevancy

    # At temperature 0 the default 3 generated questions are identical: one suffices.
    strictness = 1 if settings.temperature == 0 else 3
    return AnswerRelevancy(llm=llm, embeddings=embeddings, strictness=strictness)


def _context_precision(llm: Any, embeddings: Any, settings: JudgeSettings) -> Scorer:
    # ContextPrecision is ragas' "with reference" variant: each chunk judged useful or not for
    # reaching the reference answer, then average precision over the ranks.
    if settings.prompts == "compact":
        return judge_prompts.context_precision(llm)
    from ragas.metrics.collections import ContextPrecision

    return ContextPrecision(llm=llm)


def _context_recall(llm: Any, embeddings: Any, settings: JudgeSettings) -> Scorer:
    from ragas.metrics.collections import ContextRecall

    return ContextRecall(llm=llm)  # the same with either prompt setting (judge.prompts says why)


def _answer_correctness(llm: Any, embeddings: Any, settings: JudgeSettings) -> Scorer:
    from ragas.metrics.collections import AnswerCorrectness

    # ragas' default weights: 0.75 statement-level F1, 0.25 embedding similarity.
    return AnswerCorrectness(llm=llm, embeddings=embeddings)


def _semantic_similarity(llm: Any, embeddings: Any, settings: JudgeSettings) -> Scorer:
    from ragas.metrics.collections import SemanticSimilarity

    return SemanticSimilarity(embeddings=embeddings)


JUDGED: dict[str, JudgedSpec] = {
    "faithfulness": JudgedSpec(
        description="the answer is supported by the retrieved text (LLM judge)",
        inputs=("user_input", "response", "retrieved_contexts"),
        build=_faithfulness,
        nan_reason="no statements extracted",
        label=LabelSpec(
            question="Is every claim of the answer supported by the retrieved passages?",
            yes="Supported",
            no="Not supported",
        ),
    ),
    "answer_relevancy": JudgedSpec(
        description="the answer addresses the question (LLM judge)",
        inputs=("user_input", "response"),
        build=_answer_relevancy,
        embedding=True,  # questions generated from the answer, compared with the asked one
        cosine=True,
    ),
    "context_precision": JudgedSpec(
        description="the useful retrieved chunks rank first, judged against the reference "
        "answer (LLM judge)",
        inputs=("user_input", "reference", "retrieved_contexts"),
        build=_context_precision,
    ),
    "context_recall": JudgedSpec(
        description="the reference answer's statements are found in the retrieved text (LLM judge)",
        inputs=("user_input", "retrieved_contexts", "reference"),
        build=_context_recall,
        nan_reason="no reference statements classified",
    ),
    "answer_correctness": JudgedSpec(
        description="the answer states what the reference answer states (LLM judge and embedding)",
        inputs=("user_input", "response", "reference"),
        build=_answer_correctness,
        embedding=True,
        cosine=True,
        label=LabelSpec(
            question="Does the answer state what the reference answer states?",
            yes="Correct",
            no="Not correct",
            needs_reference=True,
        ),
    ),
    "semantic_similarity": JudgedSpec(
        description="the answer means what the reference answer means (embedding, no LLM)",
        inputs=("reference", "response"),
        build=_semantic_similarity,
        llm=False,
        embedding=True,
        cosine=True,
    ),
}

__all__ = ["JUDGED"]
