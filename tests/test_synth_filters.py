"""The synth filters that need no LLM, and the two optional LLM steps, with exact counts.

Passages: a paper's apparatus (reference list, author block, example prompts, captions, a
passage of citations, a table) is skipped before the LLM sees it and counted per reason in the
summary. Questions: citations and layout pointers are rejected by name; a question about another
document's subject is ``not specific to its document`` (BM25 over the corpus, no LLM). The
optional LLM steps run on the scripted double of ``test_synth`` (extended here to answer the
answer-check prompts with a chosen function): another document's passage answering alike rejects
a single-passage question; one passage answering alone rejects a multi-document question.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from llama_index.core.llms import CompletionResponse
from test_synth import (
    FOODS,
    KIND_OF_PROMPT,
    NAMES,
    ScriptedLLM,
    _parse,
    _with,
    fact,
    make_corpus,
    rows_of,
    run,
    sentence_fact,
)

from ragbench.data.review import FILTERS as REVIEW_FILTERS
from ragbench.synth.filters import cites_source, points_at_layout
from ragbench.synth.generate import FILTERS
from ragbench.synth.sampling import PassageIndex, prose_problem, split_passages
from ragbench.synth.specific import SPECIFIC_MARGIN, specificity

APPARATUS = {
    "references.txt": "\n".join(
        f"[{n}] Finch A, Lund B, Okafor D. Tide gauges of the northern coast, part {n}. "
        f"J Coastal Stud. 20{10 + n};{n}(2):{100 + n}-{120 + n}. doi:10.1000/tide.{n}"
        for n in range(1, 6)
    ),
    "authors.txt": (
        "Authors: Ada Finch, Boris Lund, Chen Wei and Dana Okafor\n"
        "Department of Marine Biology, University of Corran, Corran\n"
        "Institute of Coastal Studies, University of Ostby, Ostby\n"
        "Correspondence: ada.finch@corran.example.edu; boris.lund@ostby.example.edu\n"
        "Received 3 May 2021; accepted 9 August 2021; published online 1 September 2021."
    ),
    "prompt.txt": (
        "Appendix C lists the prompts used in the experiments.\n"
        "Prompt: Write a short message to Curie about the experiment.\n"
        "Input: The message may have at most 120 characters and must be polite.\n"
        "Output: Dear Curie, the samples arrived safely and the results look good.\n"
        "Prompt: Summarise the reply from Curie in one sentence.\n"
        "Output: Curie thanks the team and asks for the raw data."
    ),
    "captions.txt": (
        "Figure 1. The Corran lighthouse at night, seen from the harbour wall. "
        "Figure 2. The Ostby ferry pier at dawn with the morning boats. "
        "Table 1. Visitors to the lighthouse per month in 2019 and 2020. "
        "Figure 3. The lamp room after its conversion to electricity in 1932. "
        "Supplementary Figure 4. Map of the coastal path between the two villages."
    ),
    "citations.txt": (
        "Tide gauges were installed at many harbours (Finch et al., 2001), (Lund and Wei, 2004), "
        "(Okafor et al., 2007), (Marsh, 2009) and (Dunn et al., 2012) [1, 2, 3], [4-6], [7]. "
        "Later surveys (Bell et al., 2014), (Carr and Doyle, 2015), (Ennis et al., 2016) and "
        "(Foster, 2018) [8], [9, 10] [11] extended them to the islands (Grant et al., 2019)."
    ),
    "table.txt": (
        "Visitors and loans by year at the Corran and Ostby libraries are given below.\n"
        "2017 41 200 48 600 7 400 12.5\n2018 43 100 50 200 7 900 13.1\n"
        "2019 45 800 52 900 8 300 13.6\n2020 21 400 55 100 9 100 14.2\n"
        "2021 30 900 57 800 9 600 14.9\n2022 39 700 60 300 10 200 15.3\n"
        "The figures for 2020 and 2021 reflect the closures during the pandemic."
    ),
}
SKIPPED = {
    "looks like a reference list": 1,
    "author block": 1,
    "code or example prompt": 1,
    "caption": 1,
    "mostly citations": 1,
    "table": 1,
}


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return make_corpus(tmp_path / "corpus", {"a.txt": 25, "b.txt": 25, "c.txt": 25, "d.txt": 25})


# --- passages -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(APPARATUS))
def test_apparatus_passages_are_named(name: str) -> None:
    problem = prose_problem(APPARATUS[name]) or ""
    expected = {
        "references.txt": "looks like a reference list",
        "authors.txt": "author block",
        "prompt.txt": "code or example prompt",
        "captions.txt": "caption",
        "citations.txt": "mostly citations",
        "table.txt": "table",
    }[name]
    assert problem.startswith(expected)


def test_prose_with_a_few_citations_is_prose() -> None:
    text = " ".join(fact(i) for i in range(10)).replace(".", " [3].", 3)
    assert text.count("[3]") == 3 and prose_problem(text) is None  # once "a reference list"


def test_apparatus_is_skipped_before_the_llm_and_counted(corpus: Path, tmp_path: Path) -> None:
    for name, text in APPARATUS.items():
        (corpus / name).write_text(text + "\n")
    out = tmp_path / "q.jsonl"
    llm = ScriptedLLM()
    result = run(corpus, 6, out, llm)
    assert result.accepted == 6 and result.skipped_passages == SKIPPED
    summary = json.loads(Path(f"{out}.summary.json").read_text())
    assert summary["corpus"]["skipped_passages"] == SKIPPED
    assert all(r["gold_doc_ids"][0] in {"a.txt", "b.txt", "c.txt", "d.txt"} for r in rows_of(out))
    assert any(line.startswith("  passages skipped before the LLM: ") for line in result.lines())


# --- citations and layout -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "cites", "layout"),
    [
        ("Which paper has a longer title?", True, False),
        ("What does [12] report about dropout?", True, False),
        ("What did Smith et al. find about tides?", True, False),
        ("What do the authors of the survey propose?", True, False),
        ("Which study found the highest mortality?", True, False),
        ("What is shown in Table 3?", False, True),
        ("What does Figure 2 show about the pier?", False, True),
        ("What does Fig. 4b compare?", False, True),
        ("What is described in Section 4.1?", False, True),
        ("What is listed on page 5?", False, True),
        ("What is in the supplementary material?", False, True),
        ("What does Section 230 protect?", False, False),
        ("What does the figure of speech mean?", False, False),
        ("Which virus causes MERS?", False, False),
        ("When was the Corran lighthouse built?", False, False),
    ],
)
def test_citation_and_layout_questions(question: str, cites: bool, layout: bool) -> None:
    found = (cites_source(question) is not None, points_at_layout(question) is not None)
    assert found == (cites, layout)


def _creature(info: dict[str, Any]) -> str:
    m = sentence_fact(info)
    return f"the {m[1]} of {m[2]}"


@pytest.mark.parametrize(
    ("template", "name"),
    [
        ("What does [3] say {c} eats?", "cites a source"),
        ("What did Finch et al. see {c} eat?", "cites a source"),
        ("What does Table 2 say {c} eats?", "points at layout"),
        ("What does Figure 3 show {c} eating?", "points at layout"),
    ],
)
def test_citation_and_layout_questions_are_rejected_before_the_check(
    corpus: Path, tmp_path: Path, template: str, name: str
) -> None:
    llm = ScriptedLLM(single=_with(question=lambda i: template.format(c=_creature(i))))
    result = run(corpus, 1, tmp_path / "q.jsonl", llm)
    assert result.rejected == {k: (3 if k == name else 0) for k in result.rejected}
    assert llm.calls == Counter(single=3)  # no LLM check for a rejected question


def test_the_review_panel_knows_every_filter() -> None:
    assert set(REVIEW_FILTERS) == set(FILTERS)


# --- specific to its document ---------------------------------------------------------------------


def test_specificity_margin() -> None:
    texts = {
        "lighthouse.txt": "The Corran lighthouse was built in 1871 by the engineer Ada Finch. " * 5,
        "pier.txt": "The Ostby ferry pier was completed in 1902 and is still in use. " * 5,
        "harbour.txt": "The harbour wall was built in 1871 and the old harbour in 1870. " * 5,
    }
    index = PassageIndex([p for d, t in texts.items() for p in split_passages(d, t)])
    only = specificity(index, "Who designed the Corran lighthouse?", "lighthouse.txt")
    assert only.margin == 1.0 and only.other_doc is None
    vague = specificity(index, "Which harbour wall was built in 1871?", "lighthouse.txt")
    assert vague.margin < SPECIFIC_MARGIN and vague.other_doc == "harbour.txt"
    assert "harbour.txt matches it better than lighthouse.txt" in vague.detail("lighthouse.txt")
    assert specificity(index, "Who designed the Corran lighthouse?", "pier.txt").margin == -1.0


def _foreign(info: dict[str, Any]) -> dict[str, str]:
    """A question about the creature of the same place in the NEXT document (25 facts on)."""
    j = (NAMES.index(sentence_fact(info)[2]) + 25) % 100
    animal = fact(j).split()[1]
    return {"question": f"What does the {animal} of {NAMES[j]} eat?", "answer": FOODS[j % 9]}


def test_a_question_about_another_document_is_not_specific(corpus: Path, tmp_path: Path) -> None:
    llm = ScriptedLLM(single=_foreign)
    out = tmp_path / "q.jsonl"
    result = run(corpus, 2, out, llm)
    assert result.rejected == {
        k: (6 if k == "not specific to its document" else 0) for k in result.rejected
    }
    assert llm.calls == Counter(single=6)  # rejected before the LLM check
    rows = rows_of(out)
    assert all(r["provenance"]["specificity"]["margin"] < SPECIFIC_MARGIN for r in rows)
    assert all("matches it better than" in r["reason"] for r in rows)


def test_the_specificity_check_can_be_turned_off(corpus: Path, tmp_path: Path) -> None:
    llm = ScriptedLLM(single=_foreign)
    result = run(corpus, 2, tmp_path / "q.jsonl", llm, specific_margin=None)
    assert result.rejected["not specific to its document"] == 0
    assert result.rejected["not answerable from the span"] == 6  # the check does its job


# --- the optional LLM steps ----------------------------------------------------------------------


def _foods(question: str, texts: list[str] | None) -> list[str]:
    """The food of each creature the question names: all of them, or (texts given) only those
    whose fact is in the texts."""
    found = []
    for animal, name in re.findall(r"the (\w+) of (\w+)", question):
        if texts is None or any(f"The {animal} of {name} eats" in t for t in texts):
            found.append(FOODS[NAMES.index(name) % 9])
    return found


class Answerer(ScriptedLLM):
    """The scripted LLM, answering answer-check prompts from what it knows (``lenient``: every
    named creature's food, whatever the text) or from the text only."""

    def __init__(self, lenient: bool, **handlers: Any) -> None:
        super().__init__(**handlers)
        self.lenient = lenient

    def complete(self, prompt: str, **kwargs: Any) -> CompletionResponse:
        if not prompt.startswith(KIND_OF_PROMPT["answer_check"]):
            return super().complete(prompt, **kwargs)
        info = _parse("answer_check", prompt)
        self.calls["check"] += 1
        foods = _foods(info["question"], None if self.lenient else info["texts"])
        answer = " and ".join(foods) or "not in the text"
        return CompletionResponse(text=json.dumps({"answer": answer}), additional_kwargs={})


@pytest.mark.parametrize("lenient", [True, False], ids=["answers-anything", "reads-the-text"])
def test_another_documents_passage_must_not_answer_alike(
    corpus: Path, tmp_path: Path, lenient: bool
) -> None:
    llm = Answerer(lenient)
    out = tmp_path / "q.jsonl"
    result = run(corpus, 2, out, llm, other_doc_check=True)
    if lenient:  # it answers from another document's passage too: the question is not specific
        assert (result.accepted, result.candidates) == (0, 6)
        assert result.rejected["not specific to its document"] == 6
        assert llm.calls == Counter(single=6, check=12)  # round trip + the other document
        assert all("answered alike from " in r["reason"] for r in rows_of(out))
    else:
        assert (result.accepted, result.candidates) == (2, 2)
        assert llm.calls == Counter(single=2, check=4)
    off = Answerer(lenient)
    assert run(corpus, 2, tmp_path / "off.jsonl", off).accepted == 2
    assert off.calls == Counter(single=2, check=2)  # off by default: no extra call


@pytest.mark.parametrize("lenient", [True, False], ids=["answers-anything", "reads-the-text"])
def test_a_multi_document_question_must_need_both_passages(
    corpus: Path, tmp_path: Path, lenient: bool
) -> None:
    llm = Answerer(lenient)
    result = run(corpus, 1, tmp_path / "q.jsonl", llm, multi=1.0, both_check=True)
    if lenient:  # passage 1 alone gives both foods: the question does not need passage 2
        assert (result.accepted, result.candidates) == (0, 3)
        assert result.rejected == {
            k: (3 if k == "does not need both passages" else 0) for k in result.rejected
        }
        assert llm.calls == Counter(multi=3, check=6)  # round trip + the first passage alone
    else:  # each passage alone gives one of the two foods
        assert (result.accepted, result.candidates) == (1, 1)
        assert llm.calls == Counter(multi=1, check=3)
