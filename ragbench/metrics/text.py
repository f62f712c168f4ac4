"""Content words: the word overlap that reference_recall, synthesis and ``ragbench init`` count.

Contract: ``content_words(text)`` is the set of distinct lowercased ``\\w+`` tokens of ``text``
that are not in :data:`STOPWORDS`; a text with none (``"It is what it was."``) cannot be compared
by word overlap. ``focus(context, statement)`` keeps the sentences of a context that share the
most content words with a statement (what the judge's faithfulness re-ask shows).
"""

from __future__ import annotations

import re

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


#: A statement the judge is asked again sees at most this many sentences of the context.
FOCUS_KEEP = 3
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


def focus(context: str, statement: str, keep: int = FOCUS_KEEP) -> str:
    """The sentences of ``context`` that share the most content words with ``statement``: the
    best one and up to ``keep - 1`` more that share at least half as many, in context order.

    The 1.5B judge misreads a long context even for one statement (demo q15: "opened on 7
    October 2024" refused, with a reason about another library's opening two sentences earlier).
    The whole context is returned when it has no more than ``keep`` sentences or no sentence
    shares a word with the statement.
    """
    sentences = [s.strip() for s in _SENTENCE_END.split(context) if s.strip()]
    if len(sentences) <= keep:
        return context
    words = content_words(statement)
    overlap = [len(words & content_words(s)) for s in sentences]
    best = max(overlap)
    if best == 0:
        return context
    ranked = sorted(range(len(sentences)), key=lambda i: (-overlap[i], i))
    chosen = [i for i in ranked[:keep] if 2 * overlap[i] >= best]
    return " ".join(sentences[i] for i in sorted(chosen))


__all__ = ["FOCUS_KEEP", "STOPWORDS", "content_words", "focus"]
