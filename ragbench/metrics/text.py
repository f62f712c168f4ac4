"""Content words: the word overlap that reference_recall, synthesis and ``ragbench init`` count.

Contract: ``content_words(text)`` is the set of distinct lowercased ``\\w+`` tokens of ``text``
that are not in :data:`STOPWORDS`; a text with none (``"It is what it was."``) cannot be compared
by word overlap.
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


__all__ = ["STOPWORDS", "content_words"]
