"""Prompts and output schemas of synthesis, written for a small local model.

Contract: one ``string.Template`` per call kind (``FROM_SENTENCE`` for single-passage questions,
``MULTI``, ``UNANSWERABLE``, ``CHECK``) and one pydantic model per reply (its JSON schema is what
llama.cpp's grammar enforces). Every template puts its fixed instructions and one short example
FIRST and the passages LAST, so llama.cpp's KV cache reuses the instruction prefix from one
candidate to the next (MULTI ends with a one-line reminder of which passage each quote comes from:
the 1.5B model took both from the last one). Replies are kept short (evidence first where the model
quotes it, then the question, then a few-word answer): the local 1.5B model writes ~7-30 tokens a
second. Changing a template changes the cache keys, so old replies are not reused.
"""

from __future__ import annotations

from collections.abc import Sequence
from string import Template

from pydantic import BaseModel

from ragbench.synth.sampling import Passage

_ROLE = "You write questions for testing a search engine over a collection of documents."
_OWN = (
    "Name the subject explicitly so that the question makes sense on its own; never mention "
    '"the passage", "the text", "the author" or "the document".'
)
_EXAMPLE = (
    "The Corran lighthouse was built in 1871 by the engineer Ada Finch. Its lamp was converted "
    "to electricity in 1932."
)

# Evidence first: ragbench picks the fact sentence (``sampling.fact_sentence``) and the model only
# writes the question it answers. Measured on pg-essays passages with the local 1.5B model, letting
# the model pick and copy the sentence gave questions its own evidence did not answer in most
# drafts (rejected by the check) and cost ~40 extra generated tokens per candidate.
FROM_SENTENCE = f"""{_ROLE}
You get a passage and one sentence from it. Write a question that a user would type into the \
search engine and that this sentence answers, and the answer. Return JSON with:
- "question": the question. {_OWN} Do not put the answer in the question;
- "answer": the answer, in a few words taken from the sentence.

Example passage:
{_EXAMPLE}
Example sentence:
Its lamp was converted to electricity in 1932.
Example output:
{{"question": "When was the lamp of the Corran lighthouse converted to electricity?", \
"answer": "In 1932"}}

Passage (from the document "$doc_id"):
$passage

Sentence:
$sentence"""

MULTI = f"""{_ROLE}
Below are two passages from different documents. Write one question whose answer needs a fact \
from EACH passage (for example one that compares or connects them) and return JSON with:
- "evidence_1": the sentence of passage 1 that gives its fact, copied word for word;
- "evidence_2": the sentence of passage 2 that gives its fact, copied word for word;
- "question": the question. {_OWN} Do not put the answer in the question;
- "answer": the answer, in one short sentence that uses both facts.

Example passages:
1: The Corran lighthouse was built in 1871 by the engineer Ada Finch.
2: The Ostby ferry pier was completed in 1902 and is still in use.
Example output:
{{"evidence_1": "The Corran lighthouse was built in 1871 by the engineer Ada Finch.", \
"evidence_2": "The Ostby ferry pier was completed in 1902 and is still in use.", \
"question": "Which is older, the Corran lighthouse or the Ostby ferry pier?", \
"answer": "The Corran lighthouse, built 31 years before the pier."}}

Passage 1 (from the document "$doc_1"):
$passage_1

Passage 2 (from the document "$doc_2"):
$passage_2

Copy evidence_1 from passage 1 and evidence_2 from passage 2."""

UNANSWERABLE = f"""{_ROLE}
Read the passage at the end and write one question that a reader of it might ask next: on the \
same subject, specific and plausible, but NOT answered by the passage (the passage must not \
contain the answer). {_OWN} Return JSON with "question".

Example passage:
{_EXAMPLE}
Example output:
{{"question": "How tall is the Corran lighthouse?"}}

Passage (from the document "$doc_id"):
$passage"""

CHECK = """You check the questions of a test set, using only the text given, not what you know.
Can the question be answered from the text below alone? Return JSON: {"answerable": true} if \
the text states the answer, {"answerable": false} if it does not.

Question: $question

Text:
$texts"""


class QuestionReply(BaseModel):
    question: str
    answer: str


class MultiReply(BaseModel):
    evidence_1: str
    evidence_2: str
    question: str
    answer: str


class UnanswerableReply(BaseModel):
    question: str


class AnswerReply(BaseModel):
    answer: str


class Verdict(BaseModel):
    answerable: bool


# Reply budgets in tokens (doubled on a retry after invalid JSON: truncation is the usual cause).
MAX_TOKENS = {
    "from_sentence": 100,
    "multi": 320,
    "unanswerable": 80,
    "check": 12,
    "answer_check": 48,
}


def from_sentence(p: Passage, sentence: str) -> str:
    return Template(FROM_SENTENCE).substitute(doc_id=p.doc_id, passage=p.text, sentence=sentence)


def multi(p1: Passage, p2: Passage) -> str:
    return Template(MULTI).substitute(
        doc_1=p1.doc_id, passage_1=p1.text, doc_2=p2.doc_id, passage_2=p2.text
    )


def unanswerable(p: Passage) -> str:
    return Template(UNANSWERABLE).substitute(doc_id=p.doc_id, passage=p.text)


# The round-trip check of answerable questions (Alberti et al. 2019, "Synthetic QA Corpora
# Generation with Roundtrip Consistency"): a second call answers the question from the evidence
# alone, and the question is kept only if that answer agrees with the reference answer. Measured on
# pg-essays with the local 1.5B model, asking it for a yes/no "answerable" verdict instead rejected
# questions their evidence plainly answers.
ANSWER_CHECK = """Answer the question using only the text below, not what you know, in a few \
words. If the text does not answer it, answer "not in the text". Return JSON: {"answer": "..."}

Text:
$texts

Question: $question"""


def answer_check(question: str, texts: Sequence[str]) -> str:
    joined = "\n\n".join(texts)
    return Template(ANSWER_CHECK).substitute(question=question, texts=joined)


def check(question: str, texts: Sequence[str]) -> str:
    """The answerability check: only the evidence span(s), or the retrieved passages."""
    joined = "\n\n".join(f"[{i}] {t}" for i, t in enumerate(texts, start=1))
    return Template(CHECK).substitute(
        question=question, texts=joined if len(texts) > 1 else texts[0]
    )
