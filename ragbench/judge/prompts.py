"""Compact judge prompts: ragas' metric definitions, asked for fewer tokens and in a cache-friendly order.

Contract: ``faithfulness(llm)`` and ``context_precision(llm)`` return ragas 0.4 collections metrics
whose scores are computed exactly as ragas computes them (the same instructions, the same few-shot
inputs and reasons, the same arithmetic), with changes to how the LLM is asked, because on a
2-core CPU a generated token costs ~4x a prompt token and a prompt token not already in llama.cpp's
KV cache costs ~25 ms:

- **No statement echo.** ragas' NLI step copies every statement word for word before its reason
  and verdict; here the reply is one ``{"reason", "verdict"}`` per statement, in the order given,
  with the list length fixed by the JSON grammar. The reason stays, before the verdict: version 1
  of these prompts dropped it too and the 1.5B judge turned lenient, passing 14 of 19 answers
  people found unattributable (BEGIN dev, balanced accuracy 0.632 against ragas' 0.800;
  docs/judge-agreement.md).
- **Shared context first.** Context precision asks once per retrieved chunk; its input is laid out
  question, reference answer, then the chunk, so the calls for one question share everything but
  the chunk (ragas puts the chunk before the reference). They are independent, so they go to the
  judge together (``generate_many``): the local model decodes them in one batch
  (``models.batched``), an endpoint or a test double answers them one by one. The instructions
  and examples come first in every prompt and are served from the KV cache after the first call
  (``models.local`` keeps a RAM cache of llama.cpp states, so switching between the metrics'
  prompts does not evict them).
- **One statement at a time** (``single_verdicts``): the statement alone against the context,
  one ``{"reason", "verdict"}`` reply, ragas' instruction for one statement and its example split
  into one example per statement. Context first, so the calls for one answer share everything
  but the statement and are decoded together. ``judge.faithfulness`` uses it to re-ask the
  statements of a degenerate NLI reply, and for every answer with ``judge.nli: single``.

Context recall has nothing to gain (its reply must list the reference's statements) and stays
ragas'. The few-shot examples are ragas' own, without the echoed statements. The grammar (the
response model passed to the LLM) may be stricter than the schema shown in the prompt (a fixed
list length), so the prompt text, and with it the cached prefix, does not change with the input.
Agreement with human labels is measured on BEGIN (docs/judge-agreement.md): version 1 was
lenient; this version agreed with people exactly as ragas' prompts did on the dev sample (balanced
accuracy 0.800, the same confusion matrix), so it is the default; ``judge.prompts: ragas`` keeps
ragas' word for word.
"""

from __future__ import annotations

# ragas' prompt and metric classes are subclassed from lazily imported bases (ragas is slow to
# import), which mypy cannot follow; their replies are typed by the response models passed.
# mypy: disable-error-code="valid-type,name-defined,misc,override,attr-defined,arg-type"
import functools
from typing import Any, Literal

from pydantic import BaseModel, Field, conlist, create_model

# Bump when a prompt or output form here changes: cached verdicts are keyed by it (scoring.py).
# 1: verdicts without reasons (lenient: BEGIN balanced accuracy 0.632); 2: reasons kept.
COMPACT_VERSION = 2


def _prompt_classes() -> dict[str, Any]:
    """The ragas prompt classes and models this module builds on (imported lazily: ragas is slow)."""
    from ragas.metrics.collections.context_precision.util import (
        ContextPrecisionInput,
        ContextPrecisionPrompt,
    )
    from ragas.metrics.collections.faithfulness.util import NLIStatementPrompt
    from ragas.prompt.metrics.base_prompt import BasePrompt

    return {
        "BasePrompt": BasePrompt,
        "ContextPrecisionInput": ContextPrecisionInput,
        "ContextPrecisionPrompt": ContextPrecisionPrompt,
        "NLIStatementPrompt": NLIStatementPrompt,
    }


# --- output models ---------------------------------------------------------------------------------


class Judgement(BaseModel):
    """Faithfulness NLI, one statement (not echoed): why, then the verdict."""

    reason: str = Field(..., description="the reason of the verdict")
    verdict: Literal[0, 1] = Field(
        ..., description="1 if the statement can be directly inferred from the context, else 0"
    )


class Verdicts(BaseModel):
    """Faithfulness NLI: one judgement per statement, in the order given."""

    verdicts: list[Judgement]


def verdicts_model(n: int) -> type[BaseModel]:
    """``Verdicts`` with exactly ``n`` items: the grammar then cannot drop or add a statement."""
    return create_model(
        "Verdicts",
        verdicts=(conlist(Judgement, min_length=n, max_length=n), ...),
    )


class StatementInput(BaseModel):
    """Faithfulness NLI of one statement: the context first (shared by the statements of an
    answer, so their calls share the prefix), then the statement."""

    context: str = Field(..., description="The context to evaluate the statement against")
    statement: str = Field(..., description="The statement to judge for faithfulness")


class Verdict(BaseModel):
    """Context precision: was this chunk useful for reaching the reference answer, and why."""

    reason: str = Field(..., description="Reason for verification")
    verdict: Literal[0, 1] = Field(..., description="1 if the context was useful, else 0")


class PrecisionInput(BaseModel):
    """Context precision's input with the chunk last (shared prefix first)."""

    question: str = Field(..., description="The question being asked")
    answer: str = Field(..., description="The reference answer to the question")
    context: str = Field(..., description="The context to evaluate for usefulness")


# --- prompts -----------------------------------------------------------------------------------------


def _compact(
    name: str, input_model: Any, output_model: Any, instruction: str, examples: list[Any]
) -> Any:
    """A ragas prompt (its layout: instruction, schema, examples, input) with these parts."""
    base = _prompt_classes()["BasePrompt"]
    attrs = {
        "input_model": input_model,
        "output_model": output_model,
        "instruction": instruction,
        "examples": examples,
    }
    return type(name, (base,), attrs)()


@functools.cache  # stateless: built once per process
def _nli_prompt() -> Any:
    original = _prompt_classes()["NLIStatementPrompt"]
    return _compact(
        "CompactNLIPrompt",
        original.input_model,
        Verdicts,
        original.instruction
        + " Return one reason and verdict per statement, in the order of the statements,"
        " without repeating the statements.",
        [
            (
                inp,
                Verdicts(
                    verdicts=[Judgement(reason=s.reason, verdict=s.verdict) for s in out.statements]
                ),
            )
            for inp, out in original.examples
        ],
    )


# ragas' NLI instruction, for one statement instead of a series.
SINGLE_INSTRUCTION = (
    "Your task is to judge the faithfulness of a statement based on a given context. You must"
    " return verdict as 1 if the statement can be directly inferred based on the context or 0 if"
    " the statement can not be directly inferred based on the context."
)


@functools.cache
def _single_prompt() -> Any:
    """One statement against the context, one ``{"reason", "verdict"}`` reply; ragas' example
    split into one example per statement."""
    original = _prompt_classes()["NLIStatementPrompt"]
    return _compact(
        "SingleNLIPrompt",
        StatementInput,
        Judgement,
        SINGLE_INSTRUCTION,
        [
            (
                StatementInput(context=inp.context, statement=s.statement),
                Judgement(reason=s.reason, verdict=s.verdict),
            )
            for inp, out in original.examples
            for s in out.statements
        ],
    )


def _precision_prompt() -> Any:
    original = _prompt_classes()["ContextPrecisionPrompt"]
    return _compact(
        "CompactPrecisionPrompt",
        PrecisionInput,
        Verdict,
        original.instruction,
        [
            (
                PrecisionInput(question=inp.question, answer=inp.answer, context=inp.context),
                Verdict(reason=out.reason, verdict=out.verdict),
            )
            for inp, out in original.examples
        ],
    )


# --- metrics -----------------------------------------------------------------------------------------


async def compact_verdicts(llm: Any, statements: list[str], context: str) -> Any:
    """The compact NLI step: one call, one ``{"reason", "verdict"}`` per statement, as ragas'
    ``NLIStatementOutput`` (the statements are the ones asked: none is echoed)."""
    from ragas.metrics.collections.faithfulness.util import (
        NLIStatementInput,
        NLIStatementOutput,
        StatementFaithfulnessAnswer,
    )

    text = _nli_prompt().to_string(NLIStatementInput(context=context, statements=statements))
    out = await llm.agenerate(text, verdicts_model(len(statements)))
    return NLIStatementOutput(
        statements=[
            StatementFaithfulnessAnswer(statement=s, reason=v.reason, verdict=v.verdict)
            for s, v in zip(statements, out.verdicts, strict=True)
        ]
    )


async def single_verdicts(
    llm: Any, statements: list[str], context: str | list[str]
) -> list[Judgement]:
    """One call per statement (the statement alone against the context, or against its own
    context when ``context`` is a list, one per statement), in order. The calls are independent,
    so they go to the judge together (``generate_many``: the local model decodes them in one
    batch)."""
    prompt = _single_prompt()
    contexts = [context] * len(statements) if isinstance(context, str) else context
    texts = [
        prompt.to_string(StatementInput(context=c, statement=s))
        for s, c in zip(statements, contexts, strict=True)
    ]
    together = getattr(llm, "generate_many", None)
    if together is not None:
        return list(together(texts, Judgement))
    return [await llm.agenerate(text, Judgement) for text in texts]


def faithfulness(llm: Any) -> Any:
    """ragas Faithfulness (statements, then NLI) with the compact NLI step."""
    from ragas.metrics.collections import Faithfulness

    class CompactFaithfulness(Faithfulness):
        async def _create_verdicts(self, statements: list[str], context: str) -> Any:
            return await compact_verdicts(self.llm, statements, context)

    return CompactFaithfulness(llm=llm)


def context_precision(llm: Any) -> Any:
    """ragas ContextPrecision (with reference): one verdict per chunk, average precision."""
    from ragas.metrics.collections import ContextPrecision
    from ragas.metrics.result import MetricResult

    prompt = _precision_prompt()

    class CompactContextPrecision(ContextPrecision):
        async def ascore(
            self, user_input: str, reference: str, retrieved_contexts: list[str]
        ) -> Any:
            if not user_input or not reference or not retrieved_contexts:
                raise ValueError("context precision needs a question, a reference and contexts")
            texts = [
                prompt.to_string(
                    PrecisionInput(question=user_input, answer=reference, context=context)
                )
                for context in retrieved_contexts
            ]
            together = getattr(self.llm, "generate_many", None)
            if together is not None:  # one call per chunk, decoded together on a local model
                outs = together(texts, Verdict)
            else:
                outs = [await self.llm.agenerate(text, Verdict) for text in texts]
            verdicts = [out.verdict for out in outs]
            return MetricResult(value=float(self._calculate_average_precision(verdicts)))

    return CompactContextPrecision(llm=llm)


__all__ = [
    "COMPACT_VERSION",
    "SINGLE_INSTRUCTION",
    "Judgement",
    "StatementInput",
    "Verdict",
    "Verdicts",
    "compact_verdicts",
    "context_precision",
    "faithfulness",
    "single_verdicts",
    "verdicts_model",
]
