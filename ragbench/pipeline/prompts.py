"""Answer prompts: named templates plus the numbered-source context format the citations rely on.

A template is either a name from :data:`PROMPTS` or a literal string containing ``{context}`` and
``{question}``. ``render_prompt`` fills the template's slots in one pass: text inserted (a document
or a question that itself contains ``{question}`` or ``{context}``) is never read as a slot. Sources
are numbered ``[1]..[k]`` in retrieval order (:func:`format_context`), and an answer cites them as
``[n]``: :func:`cited_passages` is the one parser of those citations (which retrieved passages an
answer cites); ``pipeline.rag.cited_doc_ids`` maps them to document ids.
"""

from __future__ import annotations

import re

# The reply the prompts ask for when the sources lack the answer; metrics.declines (the
# `abstained` metric of unanswerable questions) recognises it and the usual paraphrases.
NOT_FOUND = "I don't know based on the provided documents."

PROMPTS: dict[str, str] = {
    # Sources first, rules after: the 1.5B local model follows rules placed near the question
    # and cites only when shown an example citation (measured on the demo set).
    "default": (
        "You answer questions about an organisation using only the numbered sources below.\n\n"
        "Sources:\n{context}\n\n"
        "Rules:\n"
        "- Use only facts stated in the sources.\n"
        "- After each sentence, cite the source number(s) it comes from in square brackets, e.g. "
        '"The library opens at 9:00 [2]."\n'
        f'- If the sources do not contain the answer, reply exactly: "{NOT_FOUND}"\n'
        "- At most three sentences.\n\n"
        "Question: {question}\n"
        "Answer (with [n] citations):"
    ),
    "concise": (
        "Sources:\n{context}\n\n"
        "Using only these sources, answer in one sentence and cite the source number like [1]. "
        f'If they do not contain the answer, say "{NOT_FOUND}"\n'
        "Question: {question}\nAnswer:"
    ),
}


_SLOT = re.compile(r"\{(context|question)\}")


def format_context(contexts: list[str], doc_ids: list[str]) -> str:
    """Number the retrieved chunks for the prompt: ``[n] (doc_id)`` then the chunk text."""
    return "\n\n".join(
        f"[{n}] ({doc_id})\n{text.strip()}"
        for n, (text, doc_id) in enumerate(zip(contexts, doc_ids, strict=True), start=1)
    )


#: A citation in an answer: ``[n]`` names the n-th source of the prompt (see ``format_context``).
CITATION = re.compile(r"\[(\d{1,3})\]")


def cited_passages(response: str | None, n: int) -> list[int]:
    """The retrieved passages an answer cites, as 1-based numbers in first-cited order.

    Args:
        response: the answer; ``[k]`` in it cites the k-th of the passages shown to the model.
        n: how many passages were retrieved (numbers outside ``1..n`` are ignored).

    Returns:
        Each cited number once, e.g. ``[2, 1]`` for "... [2]. ... [1][2]."
    """
    cited: list[int] = []
    for match in CITATION.finditer(response or ""):
        k = int(match.group(1))
        if 1 <= k <= n and k not in cited:
            cited.append(k)
    return cited


def check_prompt(template: str) -> str:
    """Validate a prompt name or literal template (used by the config)."""
    text = PROMPTS.get(template, template)
    if "{context}" not in text or "{question}" not in text:
        raise ValueError(
            f"prompt '{template[:40]}' is neither a known name ({', '.join(PROMPTS)}) nor a template "
            "with {context} and {question}"
        )
    return template


def render_prompt(template: str, context: str, question: str) -> str:
    """Fill a named or literal template; a literal must contain both placeholders."""
    text = PROMPTS[check_prompt(template)] if template in PROMPTS else check_prompt(template)
    values = {"context": context, "question": question}
    # One pass over the template: a document holding "{question}" must reach the LLM as written.
    return _SLOT.sub(lambda m: values[m.group(1)], text)
