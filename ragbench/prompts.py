"""Answer prompts: named templates plus the numbered-source context format the citations rely on.

A template is either a name from :data:`PROMPTS` or a literal string containing ``{context}`` and
``{question}``. Sources are numbered ``[1]..[k]`` in retrieval order; ``pipeline.cited_doc_ids``
maps the numbers an answer cites back to document ids.
"""

from __future__ import annotations

NOT_FOUND = "I don't know based on the provided documents."

PROMPTS: dict[str, str] = {
    "default": (
        "Answer the question using only the numbered sources below.\n"
        "Cite every source you use with its number in square brackets, like [1] or [2], right after "
        "the sentence it supports.\n"
        f'If the sources do not contain the answer, reply exactly: "{NOT_FOUND}"\n'
        "Answer in at most three sentences.\n\n"
        "Sources:\n{context}\n\n"
        "Question: {question}\n"
        "Answer:"
    ),
    "concise": (
        "Sources:\n{context}\n\n"
        "Using only these sources, answer in one sentence and cite the source number like [1]. "
        f'If they do not contain the answer, say "{NOT_FOUND}"\n'
        "Question: {question}\nAnswer:"
    ),
}


def format_context(contexts: list[str], doc_ids: list[str]) -> str:
    """Number the retrieved chunks for the prompt: ``[n] (doc_id)`` then the chunk text."""
    return "\n\n".join(
        f"[{n}] ({doc_id})\n{text.strip()}"
        for n, (text, doc_id) in enumerate(zip(contexts, doc_ids, strict=True), start=1)
    )


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
    return text.replace("{context}", context).replace("{question}", question)
