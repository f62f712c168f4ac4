"""``ragbench synth``: sampling, span alignment, every filter, the kinds, resume and the CLI.

The LLM is a scripted double (:class:`ScriptedLLM`) that answers each kind of prompt with a
function of the passages (and, for a single-passage question, the fact sentence) in it, over a generated corpus whose every sentence states one fact
("The heron of Kalomi eats clams every Monday near the old mill."), so each test can make the
model good or bad in exactly one way. Embeddings are the hashing embedder.
"""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import write_fake_experiment
from llama_index.core.llms import CompletionResponse
from typer.testing import CliRunner

from ragbench.cli import app
from ragbench.config.experiment import EmbeddingConfig, LLMConfig
from ragbench.synth import SynthError, SynthLLMError, SynthProgress, synthesize
from ragbench.synth import prompts as P
from ragbench.synth.align import align_span, strip_wrappers
from ragbench.synth.filters import leak, make_self_contained
from ragbench.synth.sampling import (
    Passage,
    fact_sentence,
    prose_problem,
    split_passages,
    stratified_order,
)

ROOT = Path(__file__).resolve().parents[1]
FAKE = LLMConfig(provider="fake")
HASHING = EmbeddingConfig(provider="hashing")
ROW_KEYS = {
    "question_id",
    "user_input",
    "reference",
    "gold_doc_ids",
    "gold_spans",
    "answerable",
    "kind",
    "status",
    "reason",
    "provenance",
}

# --- a corpus of one-fact sentences --------------------------------------------------------------

_SYLLABLES = ["ka", "lo", "mi", "ru", "te", "vo", "zan", "pel", "dor", "fin", "gus", "hol"]
NAMES = [(a + b + c).capitalize() for a, b, c in itertools.permutations(_SYLLABLES, 3)]
ANIMALS = ["heron", "otter", "badger", "falcon", "beaver", "marten", "plover", "stoat"]
FOODS = ["clams", "barley", "acorns", "herring", "beetles", "apples", "mussels", "oats", "eels"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
SENTENCE = re.compile(r"The (\w+) of (\w+) eats (\w+) every (\w+) near the old (\w+)\.")


def fact(i: int) -> str:
    return (
        f"The {ANIMALS[i % 8]} of {NAMES[i]} eats {FOODS[i % 9]} every {DAYS[i % 7]} near the "
        f"old {['mill', 'pier', 'barn', 'kiln', 'weir'][i % 5]}."
    )


def make_corpus(root: Path, sizes: dict[str, int], start: int = 0) -> Path:
    """Documents of ``sizes[name]`` fact sentences each (10 sentences make ~one passage)."""
    root.mkdir(parents=True, exist_ok=True)
    i = start
    for name, count in sizes.items():
        (root / name).write_text(" ".join(fact(j) for j in range(i, i + count)) + "\n")
        i += count
    return root


# --- the scripted LLM ----------------------------------------------------------------------------

KIND_OF_PROMPT = {
    "single": P.FROM_SENTENCE.split("$")[0],
    "multi": P.MULTI.split("$")[0],
    "unanswerable": P.UNANSWERABLE.split("$")[0],
    "check": P.CHECK.split("$")[0],
    "answer_check": P.ANSWER_CHECK.split("$")[0],
}
Handler = Callable[[dict[str, Any]], Any]


def _parse(kind: str, prompt: str) -> dict[str, Any]:
    if kind == "answer_check":
        m = re.search(r"\n\nText:\n(.*?)\n\nQuestion: (.*)\Z", prompt, re.S)
        assert m, prompt
        return {"question": m.group(2), "texts": m.group(1).split("\n\n")}
    if kind == "check":
        m = re.search(r"Question: (.*?)\n\nText:\n(.*)\Z", prompt, re.S)
        assert m, prompt
        texts = re.split(r"\n\n\[\d+\] ", "\n\n" + m.group(2)) if "[1] " in m.group(2) else None
        return {"question": m.group(1), "texts": [t for t in texts if t] if texts else [m.group(2)]}
    found = re.findall(
        r'Passage (?:\d )?\(from the document "(.*?)"\):\n'
        r"(.*?)(?=\n\nPassage 2|\n\nCopy |\n\nSentence:\n|\Z)",
        prompt,
        re.S,
    )
    info: dict[str, Any] = {"docs": [d for d, _ in found], "passages": [t for _, t in found]}
    if kind == "single":  # ragbench's pick, which the question must be about
        m = re.search(r"\n\nSentence:\n(.*)\Z", prompt, re.S)
        assert m, prompt
        info["sentence"] = m.group(1)
        assert info["sentence"] in info["passages"][0]
    return info


def first_fact(text: str) -> re.Match[str]:
    m = SENTENCE.search(text)
    assert m, text
    return m


def sentence_fact(info: dict[str, Any]) -> re.Match[str]:
    """The fact of the sentence ragbench gave the model."""
    m = SENTENCE.fullmatch(info["sentence"])
    assert m, info["sentence"]
    return m


def good_single(info: dict[str, Any]) -> dict[str, str]:
    m = sentence_fact(info)
    return {"question": f"What does the {m[1]} of {m[2]} eat?", "answer": m[3]}


def good_multi(info: dict[str, Any]) -> dict[str, str]:
    m1, m2 = (first_fact(t) for t in info["passages"])
    return {
        "evidence_1": m1.group(0),
        "evidence_2": m2.group(0),
        "question": f"What do the {m1[1]} of {m1[2]} and the {m2[1]} of {m2[2]} eat?",
        "answer": f"{m1[3]} and {m2[3]}",
    }


def good_unanswerable(info: dict[str, Any]) -> dict[str, str]:
    m = first_fact(info["passages"][0])
    return {"question": f"How old is the {m[1]} of {m[2]}?"}


def truthful_check(info: dict[str, Any]) -> dict[str, bool]:
    """Answerable iff the text states the asked fact of every creature the question names."""
    text = " ".join(info["texts"])
    creatures = re.findall(r"the (\w+) of (\w+)", info["question"])
    asked = "is \\d+ years old" if info["question"].startswith("How old") else "eats"
    ok = bool(creatures) and all(re.search(rf"The {a} of {p} {asked}", text) for a, p in creatures)
    return {"answerable": ok}


def round_trip_answer(info: dict[str, Any]) -> str:
    """What a careful reader answers from the text: what each named creature eats (as the
    reference answers of ``good_single``/``good_multi`` say), or else the whole text."""
    text = " ".join(info["texts"])
    creatures = re.findall(r"the (\w+) of (\w+)", info["question"])
    eats = [re.search(rf"The {a} of {p} eats (\w+)", text) for a, p in creatures]
    found = [m[1] for m in eats if m]
    return " and ".join(found) if found else text


class ScriptedLLM:
    """Answers each prompt kind with a handler; counts successful calls per kind; can go down."""

    def __init__(self, fail_after: int | None = None, **handlers: Handler) -> None:
        self.handlers: dict[str, Handler] = {
            "single": good_single,
            "multi": good_multi,
            "unanswerable": good_unanswerable,
            "check": truthful_check,
            **handlers,
        }
        self.calls: Counter[str] = Counter()
        self.fail_after = fail_after
        self.prompts: list[str] = []

    def complete(self, prompt: str, **kwargs: Any) -> CompletionResponse:
        if self.fail_after is not None and self.calls.total() >= self.fail_after:
            raise ConnectionError("endpoint down")
        kind = next(k for k, prefix in KIND_OF_PROMPT.items() if prompt.startswith(prefix))
        assert kwargs["response_format"]["schema"], "every synth call asks for JSON"
        self.calls["check" if kind == "answer_check" else kind] += 1
        self.prompts.append(prompt)
        if kind == "answer_check":  # the round trip: the check handler decides, the text answers
            info = _parse(kind, prompt)
            verdict = self.handlers["check"](info)
            reply = {"answer": round_trip_answer(info) if verdict["answerable"] else "not in it"}
        else:
            reply = self.handlers[kind](_parse(kind, prompt))
        text = reply if isinstance(reply, str) else json.dumps(reply)
        return CompletionResponse(text=text, additional_kwargs={"usage": {}})


def run(
    corpus: Path,
    n: int,
    out: Path,
    llm: ScriptedLLM,
    **kwargs: Any,
) -> Any:
    options: dict[str, Any] = {"multi": 0.0, "unanswerable": 0.0, "db": None, "progress": False}
    return synthesize(corpus, n, out, llm=FAKE, embedding=HASHING, client=llm, **(options | kwargs))


def rows_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def doc_texts(corpus: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in corpus.iterdir()}


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return make_corpus(tmp_path / "corpus", {"a.txt": 25, "b.txt": 25, "c.txt": 25, "d.txt": 25})


# --- passages -------------------------------------------------------------------------------------


def test_passages_are_whole_sentences_at_document_offsets() -> None:
    text = " ".join(fact(i) for i in range(40)) + "\n"
    passages = split_passages("a.txt", text)
    assert len(passages) == 3
    for p, nxt in itertools.pairwise(passages):
        assert p.end < nxt.start
    for p in passages:
        assert p.text == text[p.start : p.end]
        assert p.text.startswith("The ") and p.text.endswith(".")
        assert 600 <= len(p.text) <= 1300
        assert p.problem is None


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("The heron eats clams.", "too short"),
        ("2023 | 41,200 | 48,600 | 7,400 | 12.5% | 3,100 | 9,870 " * 6, "mostly digits or symbols"),
        (
            "Barley Oats Clams Herring Acorns Beetles Mussels Apples Kalomi Rutevo " * 5,
            "little prose",
        ),
        (
            "Smith, John, and Anna Doe. Learning to rank passages with neural networks. Journal "
            "of Retrieval Studies (2019). Jones, Kate, et al. Dense passage retrieval for open "
            "questions, in the Proceedings of the Conference on Methods (2020). Lee, Sam. Old "
            "methods revisited, available at https://example.org/old-methods. " * 2,
            "looks like a reference list",
        ),
        (
            "Home\nAbout us\nBranches\nOpening hours\nEvents\nContact\nJoin\nDonate\n" * 4,
            "short lines",
        ),
    ],
)
def test_passages_with_little_prose_are_named(text: str, problem: str) -> None:
    assert (prose_problem(text) or "").startswith(problem)


def test_prose_passes() -> None:
    assert prose_problem(" ".join(fact(i) for i in range(10))) is None


def test_stratified_order_gives_every_document_its_turn(tmp_path: Path) -> None:
    passages = split_passages("huge.txt", " ".join(fact(i) for i in range(500)))
    for j, name in enumerate(["s1.txt", "s2.txt", "s3.txt", "s4.txt"]):
        start = 500 + 20 * j
        passages += split_passages(name, " ".join(fact(i) for i in range(start, start + 20)))
    order = stratified_order(passages, seed=0)
    assert len(order) == len(passages)
    assert {p.doc_id for p in order[:5]} == {"huge.txt", "s1.txt", "s2.txt", "s3.txt", "s4.txt"}
    assert {p.doc_id for p in order[5:10]} == {"huge.txt", "s1.txt", "s2.txt", "s3.txt", "s4.txt"}
    assert all(p.doc_id == "huge.txt" for p in order[10:])
    assert order == stratified_order(passages, seed=0)
    assert order != stratified_order(passages, seed=1)


def test_a_huge_document_does_not_dominate_the_questions(tmp_path: Path) -> None:
    sizes = {"huge.txt": 400, "s1.txt": 10, "s2.txt": 10, "s3.txt": 10, "s4.txt": 10}
    corpus = make_corpus(tmp_path / "c", sizes)
    result = run(corpus, 5, tmp_path / "q.jsonl", ScriptedLLM())
    assert result.accepted == 5
    docs = [r["gold_doc_ids"][0] for r in rows_of(tmp_path / "q.jsonl")]
    assert sorted(docs) == sorted(sizes)


# --- span alignment -------------------------------------------------------------------------------


def _doc() -> tuple[str, int, int]:
    text = "Preface.\n\n" + " ".join(fact(i) for i in range(12))
    start = text.index("The ")
    return text, start, len(text)


def test_exact_evidence_gives_document_offsets() -> None:
    text, start, end = _doc()
    sentence = fact(3)
    a = align_span(sentence, text, start, end)
    assert a is not None and a.method == "exact"
    assert (a.start, a.end) == (text.index(sentence), text.index(sentence) + len(sentence))


def test_wrappers_and_quotes_are_stripped() -> None:
    assert strip_wrappers('The passage states: "Its lamp was lit."') == "Its lamp was lit."
    assert strip_wrappers("According to the text, …it was lit…") == "it was lit"
    assert strip_wrappers("Evidence: 'A quote.'") == "A quote."
    text, start, end = _doc()
    a = align_span(f'The passage states that "{fact(5)}"', text, start, end)
    assert a is not None and a.method == "exact"
    assert text[a.start : a.end] == fact(5)


def test_case_and_whitespace_differences_keep_the_source_characters() -> None:
    text, start, end = _doc()
    sentence = fact(7)
    mangled = "  " + sentence.lower().replace(" of ", " of\n   ") + " "
    a = align_span(f"“{mangled}”", text, start, end)
    assert a is not None and a.method == "normalised"
    assert text[a.start : a.end] == sentence  # the document's casing and spacing, not the model's
    assert a.start == text.index(sentence)


def test_fuzzy_match_of_a_lightly_changed_quote() -> None:
    text, start, end = _doc()
    sentence = fact(4)
    changed = sentence.replace(" eats ", " eat ")
    a = align_span(changed, text, start, end)
    assert a is not None and a.method == "fuzzy" and a.score >= 0.9
    assert text[a.start : a.end] == sentence


def test_fuzzy_match_of_a_long_quote_finds_its_boundaries() -> None:
    text, start, end = _doc()
    quote = " ".join(fact(i) for i in range(3, 6))
    changed = quote.replace(" eats ", " ate ", 2).replace("near the old", "by the old", 1)
    a = align_span(changed, text, start, end)
    assert a is not None and a.method == "fuzzy" and a.score >= 0.9
    assert text[a.start : a.end] == quote


def test_ellipsis_fragments_give_the_covering_span() -> None:
    text, start, end = _doc()
    sentence = fact(2)
    head, tail = sentence.split(" every ")
    a = align_span(f"{head} ... {tail.split(' near ')[1]}", text, start, end)
    assert a is not None and a.method == "fragments"
    assert text[a.start : a.end] == sentence


def test_evidence_not_in_the_passage_or_too_short_is_not_found() -> None:
    text, start, end = _doc()
    assert align_span("The walrus of Nowhere eats nothing at all.", text, start, end) is None
    assert align_span(fact(20), text, start, end) is None  # in no passage of this document
    assert align_span("clams", text, start, end) is None  # too short to be a span
    assert align_span(fact(0), text, text.index(fact(1)), end) is None  # outside the passage


# --- the cheap filters, as functions --------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("According to the passage, what does the heron eat?", "What does the heron eat?"),
        ("What does the heron eat, according to the text?", "What does the heron eat?"),
        (
            "What food is mentioned in the passage for the heron?",
            "What food is mentioned for the heron?",
        ),
        ("Who built the Corran lighthouse?", "Who built the Corran lighthouse?"),
        (
            "What is the smallest size of the notebook mentioned?",
            "What is the smallest size of the notebook?",
        ),
    ],
)
def test_self_contained_rewrites(question: str, expected: str) -> None:
    assert make_self_contained(question) == (expected, None)


@pytest.mark.parametrize(
    "question",
    ["What does the passage say about herons?", "What does the author think of herons?"],
)
def test_questions_pointing_at_their_source_cannot_be_repaired(question: str) -> None:
    fixed, problem = make_self_contained(question)
    assert fixed == question and problem is not None and problem.startswith("refers to its source")


def test_leak_rules() -> None:
    assert leak("Does the heron eat clams?", "clams") == 'the question contains the answer "clams"'
    assert leak("Did Ada Finch build the lighthouse in 1871?", "In 1871, by Ada Finch") is not None
    assert leak("Who built the lighthouse?", "Ada Finch, in 1871") is None
    assert leak("When was it built?", "the year 1871 after the storm", "") is None
    quote = "the lamp was converted to electricity"
    assert (
        leak(f"Is it true that {quote}?", "yes", quote) == "the question quotes the evidence span"
    )


# --- synthesis end to end -------------------------------------------------------------------------


def test_synthesis_writes_accepted_rows_of_every_kind(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "q.jsonl"
    llm = ScriptedLLM()
    seen: list[SynthProgress] = []
    result = run(
        corpus,
        6,
        out,
        llm,
        multi=0.2,
        unanswerable=0.2,
        db=tmp_path / "r.duckdb",
        on_progress=seen.append,
    )
    assert (result.accepted, result.candidates) == (6, 6)
    assert result.kinds == {"single": 4, "multi": 1, "unanswerable": 1}
    assert set(result.rejected.values()) == {0} and result.stopped == "reached the target"
    assert llm.calls == Counter(single=4, multi=1, unanswerable=1, check=6)
    rows = rows_of(out)
    texts = doc_texts(corpus)
    assert len(rows) == 6 and len({r["question_id"] for r in rows}) == 6
    for row in rows:
        assert set(row) == ROW_KEYS
        assert re.fullmatch(r"synth-[0-9a-f]{12}", row["question_id"])
        assert row["status"] == "accepted" and row["reason"] is None
        prov = row["provenance"]
        assert prov["generator"] == "fake-llm:v1" and prov["seed"] == 0
        assert prov["reviewed_by"] == "filters" and prov["edited"] is False
        for source in prov["sources"]:
            assert texts[source["doc_id"]][source["start"] : source["end"]] == source["passage"]
        for span, gold in zip(prov["spans"], row["gold_spans"], strict=True):
            assert texts[span["doc_id"]][span["start"] : span["end"]] == gold
    by_kind = {r["kind"]: r for r in rows}
    single, multi, unanswerable = by_kind["single"], by_kind["multi"], by_kind["unanswerable"]
    assert single["answerable"] is True and len(single["gold_doc_ids"]) == 1
    assert SENTENCE.fullmatch(single["gold_spans"][0]) and single["reference"]
    assert multi["answerable"] is True and len(set(multi["gold_doc_ids"])) == 2
    assert [s["doc_id"] for s in multi["provenance"]["spans"]] == multi["gold_doc_ids"]
    assert unanswerable["answerable"] is False and unanswerable["kind"] == "unanswerable"
    assert unanswerable["gold_doc_ids"] == [] and unanswerable["gold_spans"] == []
    assert unanswerable["reference"] == "" and unanswerable["provenance"]["checked_against"]
    summary = json.loads((tmp_path / "q.jsonl.summary.json").read_text())
    assert summary["accepted"] == 6 and summary["kinds"] == result.kinds
    assert summary["rejected"]["duplicate"] == 0 and summary["settings"]["seed"] == 0
    assert [p.candidates for p in seen] == [1, 2, 3, 4, 5, 6] and seen[-1].accepted == 6


def _always(reply: Any) -> Handler:
    return lambda info: reply(info) if callable(reply) else reply


def _with(**changes: Any) -> Handler:
    return lambda info: (
        good_single(info) | {k: v(info) if callable(v) else v for k, v in changes.items()}
    )


def _multi_with(**changes: Any) -> Handler:
    return lambda info: good_multi(info) | changes


def _creature(info: dict[str, Any]) -> str:
    m = sentence_fact(info)
    return f"the {m[1]} of {m[2]}"


@pytest.mark.parametrize(
    ("llm", "reason"),
    [
        (
            ScriptedLLM(
                single=_with(question=lambda i: f"What does the passage say {_creature(i)} eats?")
            ),
            'not self-contained: refers to its source ("the passage")',
        ),
        (
            ScriptedLLM(
                single=_with(question=lambda i: f"Does {_creature(i)} eat {sentence_fact(i)[3]}?")
            ),
            'leaks the answer: the question contains the answer "',
        ),
        (
            ScriptedLLM(check=_always({"answerable": False})),
            "not answerable from the span: answered from the span alone",
        ),
        (ScriptedLLM(single=_always("Sure! Here is a question.")), "invalid output: not JSON"),
        (
            ScriptedLLM(single=_always({"question": "Why?"})),
            "invalid output: answer: Field required",
        ),
    ],
    ids=["self-contained", "leak", "checker", "not-json", "missing-field"],
)
def test_each_filter_rejects_with_its_reason(
    corpus: Path, tmp_path: Path, llm: ScriptedLLM, reason: str
) -> None:
    out = tmp_path / "q.jsonl"
    result = run(corpus, 1, out, llm)
    assert (result.accepted, result.candidates) == (0, 3)  # the cap: 3 x n
    assert result.stopped == "candidate cap reached (3 = 3 x n)"
    name = reason.split(":")[0]
    assert result.rejected == {k: (3 if k == name else 0) for k in result.rejected}
    rows = rows_of(out)
    assert [r["status"] for r in rows] == ["rejected"] * 3
    assert all(r["reason"].startswith(reason) for r in rows), rows[0]["reason"]
    assert all(r["user_input"] for r in rows)  # the loader requires a non-empty question
    if name == "invalid output":
        assert llm.calls == Counter(single=9)  # 1 + max_retries (2) per candidate, no check
    elif name == "not answerable from the span":
        assert llm.calls == Counter(single=3, check=3)
    else:
        assert llm.calls == Counter(single=3)  # cheap filters run before the LLM check


def test_duplicates_name_the_question_they_repeat(corpus: Path, tmp_path: Path) -> None:
    same = _with(question="What does the heron of Kalomi eat?")
    result = run(
        corpus,
        2,
        tmp_path / "q.jsonl",
        ScriptedLLM(single=same, check=_always({"answerable": True})),
        # asked of every document, the one question is specific to one only: that filter
        # (tested in test_synth_filters.py) would reject it before the duplicate filter sees it
        specific_margin=None,
    )
    assert (result.accepted, result.candidates, result.rejected["duplicate"]) == (1, 6, 5)
    rows = rows_of(tmp_path / "q.jsonl")
    first = rows[0]["question_id"]
    assert rows[0]["status"] == "accepted"
    assert all(r["reason"] == f"duplicate: {first} (cos 1.00)" for r in rows[1:])


def test_a_rewritten_question_is_accepted_with_its_original_kept(
    corpus: Path, tmp_path: Path
) -> None:
    pointed = _with(question=lambda i: f"According to the passage, what does {_creature(i)} eat?")
    run(corpus, 1, tmp_path / "q.jsonl", ScriptedLLM(single=pointed))
    (row,) = rows_of(tmp_path / "q.jsonl")
    assert row["status"] == "accepted"
    assert row["user_input"].startswith("What does the ") and "passage" not in row["user_input"]
    assert row["provenance"]["rewritten_from"].startswith("According to the passage, what")


def test_wrapped_multi_evidence_is_stored_as_the_source_characters(
    corpus: Path, tmp_path: Path
) -> None:
    def wrapped(info: dict[str, Any]) -> dict[str, str]:
        quote = first_fact(info["passages"][0])[0]
        return good_multi(info) | {"evidence_1": f'The passage states: "{quote.upper()}"'}

    run(corpus, 1, tmp_path / "q.jsonl", ScriptedLLM(multi=wrapped), multi=1.0)
    (row,) = rows_of(tmp_path / "q.jsonl")
    assert row["status"] == "accepted"
    assert all(SENTENCE.fullmatch(span) for span in row["gold_spans"])
    assert row["gold_spans"][0] == first_fact(row["provenance"]["sources"][0]["passage"])[0]
    assert row["provenance"]["evidence"][0].startswith("The passage states:")
    assert row["provenance"]["alignment"] == [
        {"method": "normalised", "score": 1.0},
        {"method": "exact", "score": 1.0},
    ]


def test_multi_evidence_not_in_its_passages_or_too_short_is_span_not_found(
    corpus: Path, tmp_path: Path
) -> None:
    made_up = _multi_with(
        evidence_1="The walrus of Nowhere eats nothing at all.", evidence_2="clams"
    )
    llm = ScriptedLLM(multi=made_up)
    result = run(corpus, 1, tmp_path / "q.jsonl", llm, multi=1.0)
    assert (result.accepted, result.candidates, result.rejected["span not found"]) == (0, 3, 3)
    assert llm.calls == Counter(multi=3)  # cheap filters run before the LLM check
    for row in rows_of(tmp_path / "q.jsonl"):
        first, second = (s["doc_id"] for s in row["provenance"]["sources"])
        assert re.fullmatch(
            rf'span not found: evidence_1 "The walrus of Nowhere eats nothing at all\." is not in '
            rf'{re.escape(first)} \(\d+-\d+\); evidence_2 "clams" is too short to locate '
            rf"\(< 3 words\)",
            row["reason"],
        ), row["reason"]
        assert row["gold_spans"] == [] and row["provenance"]["spans"] == []
        assert second != first


# --- the fact sentence of a single-passage question ----------------------------------------------

PLAIN = "The old keeper of the lamp walked along the shore every single day."
DENSE = "The lamp of Corran Point was converted to electricity in 1932 by Ada Finch."


def _picked(*sentences: str) -> str | None:
    """The sentence ``fact_sentence`` picks from a passage of these sentences, checking that its
    offsets are document offsets (the passage does not start the document)."""
    text = "Preface.\n\n" + " ".join(sentences) + "\n\nNotes follow."
    start = text.index(sentences[0])
    end = text.index(sentences[-1]) + len(sentences[-1])
    found = fact_sentence(Passage("d.txt", start, end, text[start:end]), text)
    if found is None:
        return None
    assert start <= found[0] < found[1] <= end
    assert text[found[0] : found[1]] in sentences
    return text[found[0] : found[1]]


def test_fact_sentence_picks_the_sentence_with_numbers_and_names() -> None:
    assert _picked(PLAIN, DENSE, PLAIN.replace("old", "young")) == DENSE
    named = "The keeper Tom Bell of Corran Point walked along the shore every day."
    assert _picked(PLAIN, named) == named  # names alone count too
    numbered = "The old keeper of the lamp walked 12 miles along the shore in 1931."
    assert _picked(PLAIN, numbered) == numbered  # and digits alone


@pytest.mark.parametrize(
    ("skipped", "why"),
    [
        ("Was the lamp of Corran Point converted in 1932 by Ada Finch?", "a question"),
        ("and in 1932 Ada Finch of Corran Point converted the lamp to electricity.", "lowercase"),
        ("Ada Finch, Corran Point, 1871-1932.", "under 8 words"),
        (
            "The lamp of Corran Point was converted in 1932 by Ada Finch, "
            + "and the keeper kept a log of every ship that passed the point " * 5
            + "until 1951.",
            "over 60 words",
        ),
    ],
)
def test_fact_sentence_skips_unusable_sentences(skipped: str, why: str) -> None:
    assert _picked(skipped, PLAIN) == PLAIN, why
    assert _picked(skipped) is None, why


def test_fact_sentence_penalises_first_and_second_person() -> None:
    personal = "We met Ada Finch and Tom Bell at Corran Point in 1932 with my uncle."
    third = "The engineer Ada Finch came to Corran Point in 1932."
    # more names, so it would win without the penalty
    assert _picked(personal.replace("We", "They").replace("my", "his"), third) != third
    assert _picked(personal, third) == third
    yours = "You can see Ada Finch and Tom Bell at Corran Point in 1932 with your uncle."
    assert _picked(yours, third) == third


def test_fact_sentence_ties_go_to_the_earlier_sentence() -> None:
    text = " ".join(fact(i) for i in range(30))
    for p in split_passages("a.txt", text):
        found = fact_sentence(p, text)
        assert found is not None and found[0] == p.start
        assert text[found[0] : found[1]] == first_fact(p.text)[0]


def test_single_evidence_is_the_fact_sentence_ragbench_picked(tmp_path: Path) -> None:
    facts = [fact(i) for i in range(10)]
    dense = "The heron of Kalomi was ringed 4 times between 1921 and 1933 near Rutevo Bay."
    facts[4] = dense  # not the first sentence: the first is what a lazy pick would take
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "a.txt").write_text(" ".join(facts) + "\n")
    texts = doc_texts(tmp_path / "c")

    def about_the_ringing(info: dict[str, Any]) -> dict[str, str]:
        assert info["sentence"] == dense
        return {"question": "How often was the heron of Kalomi ringed?", "answer": "4 times"}

    llm = ScriptedLLM(single=about_the_ringing, check=_always({"answerable": True}))
    run(tmp_path / "c", 1, tmp_path / "q.jsonl", llm)
    (row,) = rows_of(tmp_path / "q.jsonl")
    assert row["status"] == "accepted" and row["kind"] == "single"
    assert row["gold_spans"] == [dense]
    (span,) = row["provenance"]["spans"]
    start = texts["a.txt"].index(dense)
    assert span == {"doc_id": "a.txt", "start": start, "end": start + len(dense)}
    assert row["provenance"]["evidence"] == [dense]
    assert row["provenance"]["alignment"] == [{"method": "exact", "score": 1.0}]
    assert llm.prompts[0].endswith(f"\n\nSentence:\n{dense}")
    assert llm.calls == Counter(single=1, check=1)


def test_a_passage_without_a_usable_fact_sentence_is_span_not_found(tmp_path: Path) -> None:
    unusable = [
        "Does the heron of Kalomi eat clams every Monday near the old mill?",
        "and then the otter of Lomiru ate barley every Tuesday by the kiln.",
        "The badger of Mitezan eats acorns.",
    ]
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "a.txt").write_text(" ".join(unusable * 6) + "\n")
    llm = ScriptedLLM()
    result = run(tmp_path / "c", 1, tmp_path / "q.jsonl", llm)
    rows = rows_of(tmp_path / "q.jsonl")
    assert result.accepted == 0 and result.rejected["span not found"] == len(rows) > 0
    assert all(r["reason"] == "span not found: no usable fact sentence in a.txt" for r in rows), (
        rows
    )
    assert all(r["gold_spans"] == [] and r["provenance"]["evidence"] == [] for r in rows)
    assert llm.calls.total() == 0  # rejected before asking the model


# --- kinds ----------------------------------------------------------------------------------------


def test_multi_needs_two_documents(tmp_path: Path) -> None:
    one = make_corpus(tmp_path / "one", {"only.txt": 60})
    llm = ScriptedLLM()
    result = run(one, 4, tmp_path / "q.jsonl", llm, multi=0.5)
    assert result.kinds == {"single": 4, "multi": 0, "unanswerable": 0}
    assert "multi" not in llm.calls
    assert "multi: multi-passage questions need two documents" in result.notes


def test_multi_spans_align_to_their_own_documents_even_when_swapped(
    corpus: Path, tmp_path: Path
) -> None:
    def swapped(info: dict[str, Any]) -> dict[str, str]:
        reply = good_multi(info)
        reply["evidence_1"], reply["evidence_2"] = reply["evidence_2"], reply["evidence_1"]
        return reply

    result = run(corpus, 2, tmp_path / "q.jsonl", ScriptedLLM(multi=swapped), multi=1.0)
    assert result.kinds["multi"] == 2
    texts = doc_texts(corpus)
    for row in rows_of(tmp_path / "q.jsonl"):
        first, second = row["provenance"]["sources"]
        assert first["doc_id"] != second["doc_id"] and row["gold_doc_ids"] == [
            first["doc_id"],
            second["doc_id"],
        ]
        for span, source in zip(row["provenance"]["spans"], (first, second), strict=True):
            assert span["doc_id"] == source["doc_id"]
            assert source["start"] <= span["start"] < span["end"] <= source["end"]
            assert SENTENCE.fullmatch(texts[span["doc_id"]][span["start"] : span["end"]])


def test_multi_evidence_missing_from_one_document_is_span_not_found(
    corpus: Path, tmp_path: Path
) -> None:
    def half(info: dict[str, Any]) -> dict[str, str]:
        return good_multi(info) | {"evidence_2": "The walrus of Nowhere eats nothing."}

    result = run(corpus, 1, tmp_path / "q.jsonl", ScriptedLLM(multi=half), multi=1.0)
    assert result.rejected["span not found"] == 3
    assert rows_of(tmp_path / "q.jsonl")[0]["reason"].startswith(
        'span not found: evidence_2 "The walrus of Nowhere eats nothing." is not in '
    )


def test_multi_evidence_quoted_from_one_document_says_so(corpus: Path, tmp_path: Path) -> None:
    def both_from_second(info: dict[str, Any]) -> dict[str, str]:
        sentences = [m.group(0) for m in SENTENCE.finditer(info["passages"][1])]
        return good_multi(info) | {"evidence_1": sentences[0], "evidence_2": sentences[1]}

    result = run(corpus, 1, tmp_path / "q.jsonl", ScriptedLLM(multi=both_from_second), multi=1.0)
    assert result.rejected["span not found"] == 3
    reasons = [r["reason"] for r in rows_of(tmp_path / "q.jsonl")]
    assert all(
        re.fullmatch(
            r"span not found: both evidence spans are from \w\.txt: a multi-passage question "
            r"needs one from each document",
            reason,
        )
        for reason in reasons
    ), reasons


def test_unanswerable_questions_are_verified_against_the_whole_corpus(tmp_path: Path) -> None:
    # The ages of the creatures of a.txt (not of b.txt) are in a third document.
    corpus = make_corpus(tmp_path / "c", {"a.txt": 30, "b.txt": 30})
    ages = " ".join(
        f"The {m[1]} of {m[2]} is {10 + i} years old and lives alone in a hut by the water."
        for i, m in enumerate(SENTENCE.finditer((corpus / "a.txt").read_text()))
    )
    (corpus / "ages.txt").write_text(ages + "\n")

    def ask_age(info: dict[str, Any]) -> dict[str, str]:
        m = SENTENCE.search(info["passages"][0]) or re.search(
            r"The (\w+) of (\w+) is", info["passages"][0]
        )
        assert m
        return {"question": f"How old is the {m[1]} of {m[2]}?"}

    llm = ScriptedLLM(unanswerable=ask_age)
    result = run(corpus, 4, tmp_path / "q.jsonl", llm, unanswerable=1.0)
    rows = rows_of(tmp_path / "q.jsonl")
    known = set(re.findall(r"The (\w+ of \w+) is \d+ years old", ages))
    asked = {r["question_id"]: re.search(r"the (\w+ of \w+)\?", r["user_input"])[1] for r in rows}
    accepted = [r for r in rows if r["status"] == "accepted"]
    rejected = [r for r in rows if r["status"] == "rejected"]
    assert accepted and rejected
    assert all(asked[r["question_id"]] not in known for r in accepted)
    assert all(asked[r["question_id"]] in known for r in rejected)
    assert all(
        r["reason"].startswith(
            "answerable from the corpus: the checker answered it from the top 3 passages"
        )
        for r in rejected
    )
    assert result.rejected["answerable from the corpus"] == len(rejected)
    assert llm.calls["check"] == len(rows)


# --- resume ---------------------------------------------------------------------------------------


def test_resume_after_an_interruption_repeats_no_call_and_no_row(
    corpus: Path, tmp_path: Path
) -> None:
    corpus = make_corpus(tmp_path / "big", {f"{d}.txt": 50 for d in "abcde"})
    options = {"multi": 0.2, "unanswerable": 0.2}
    whole = ScriptedLLM()
    full = run(corpus, 8, tmp_path / "whole.jsonl", whole, db=tmp_path / "whole.duckdb", **options)
    assert full.accepted == full.candidates == 8

    out, db = tmp_path / "q.jsonl", tmp_path / "r.duckdb"
    broken = ScriptedLLM(fail_after=11)  # the first batch (4 drafts, 4 checks) is written
    with pytest.raises(SynthLLMError, match="endpoint down"):
        run(corpus, 8, out, broken, db=db, **options)
    written = rows_of(out)
    assert 0 < len(written) < 8
    summary = json.loads((tmp_path / "q.jsonl.summary.json").read_text())
    assert summary["stopped"] == "interrupted" and summary["candidates"] == len(written)

    again = ScriptedLLM()
    result = run(corpus, 8, out, again, db=db, **options)
    assert result.resumed == len(written) and result.accepted == 8
    assert rows_of(out) == rows_of(tmp_path / "whole.jsonl")  # as if never interrupted
    assert broken.calls + again.calls == whole.calls  # no LLM call was made twice
    assert all(r["status"] == "accepted" for r in written)  # each took a draft and a check
    assert result.llm["cache_hits"] == broken.calls.total() - 2 * len(written) > 0

    done = ScriptedLLM()
    rerun = run(corpus, 8, out, done, db=db, **options)
    assert done.calls.total() == 0 and rerun.accepted == 8 and rerun.resumed == 8
    assert len(rows_of(out)) == 8


def test_a_torn_last_line_is_done_again(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "q.jsonl"
    run(corpus, 2, out, ScriptedLLM())
    rows = out.read_text().splitlines()
    out.write_text(rows[0] + "\n" + rows[1][:40])
    llm = ScriptedLLM()
    result = run(corpus, 2, out, llm)
    assert result.resumed == 1 and result.accepted == 2 and llm.calls == Counter(single=1, check=1)
    assert out.read_text().splitlines() == rows


def test_another_seed_or_model_is_refused_unless_forced(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "q.jsonl"
    run(corpus, 2, out, ScriptedLLM())
    with pytest.raises(SynthError, match="made with seed 0, this run uses 1: use --force"):
        run(corpus, 2, out, ScriptedLLM(), seed=1)
    other = LLMConfig(provider="openai", base_url="http://localhost:9/v1", model="m")
    with pytest.raises(SynthError, match="made with generator fake-llm:v1, this run uses openai:"):
        synthesize(
            corpus,
            2,
            out,
            llm=other,
            embedding=HASHING,
            client=ScriptedLLM(),
            db=None,
            progress=False,
        )
    result = run(corpus, 2, out, ScriptedLLM(), seed=1, force=True)
    assert result.resumed == 0
    assert {r["provenance"]["seed"] for r in rows_of(out)} == {1}


def test_a_changed_corpus_is_not_resumed(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "q.jsonl"
    run(corpus, 2, out, ScriptedLLM())
    doc = rows_of(out)[0]["gold_doc_ids"][0]
    (corpus / doc).write_text("Changed. " + (corpus / doc).read_text())
    with pytest.raises(
        SynthError, match=f"the corpus changed since row synth-.* was written \\({doc} differs\\)"
    ):
        run(corpus, 2, out, ScriptedLLM())


# --- bad input ------------------------------------------------------------------------------------


def test_bad_corpora_are_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SynthError, match="corpus folder not found"):
        run(tmp_path / "nope", 1, tmp_path / "q.jsonl", ScriptedLLM())
    (tmp_path / "empty").mkdir()
    with pytest.raises(SynthError, match="has no readable documents \\(the folder is empty\\)"):
        run(tmp_path / "empty", 1, tmp_path / "q.jsonl", ScriptedLLM())
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "a.bin").write_bytes(b"\x00\x01")
    (tmp_path / "junk" / "b.txt").write_text("")
    with pytest.raises(SynthError, match="no readable documents \\(2 skipped: a.bin: unsupported"):
        run(tmp_path / "junk", 1, tmp_path / "q.jsonl", ScriptedLLM())
    (tmp_path / "numbers").mkdir()
    (tmp_path / "numbers" / "t.txt").write_text("| 2023 | 41,200 | 48,600 | 7,400 | 12.5% |" * 40)
    with pytest.raises(
        SynthError, match="no passage .* is usable prose \\(mostly digits or symbols: \\d+\\)"
    ):
        run(tmp_path / "numbers", 1, tmp_path / "q.jsonl", ScriptedLLM())


def test_documents_in_memory_are_a_corpus_too(tmp_path: Path) -> None:
    from ragbench.data.corpus import make_document

    docs = [
        make_document(f"doc{i}", " ".join(fact(j) for j in range(20 * i, 20 * i + 20)))
        for i in range(3)
    ]
    result = run(docs, 3, tmp_path / "q.jsonl", ScriptedLLM())
    assert result.accepted == 3
    assert sorted(r["gold_doc_ids"][0] for r in rows_of(tmp_path / "q.jsonl")) == [
        "doc0",
        "doc1",
        "doc2",
    ]
    with pytest.raises(SynthError, match="the corpus has no documents"):
        run([], 1, tmp_path / "q2.jsonl", ScriptedLLM())


def test_out_file_inside_the_corpus_is_refused(corpus: Path) -> None:
    with pytest.raises(SynthError, match="is inside the corpus folder .* read as a document"):
        run(corpus, 1, corpus / "questions.jsonl", ScriptedLLM())
    assert not (corpus / "questions.jsonl").exists()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": 0}, "n must be a whole number >= 1"),
        ({"multi": 1.5}, "multi must be a share between 0 and 1"),
        ({"unanswerable": -0.1}, "unanswerable must be a share between 0 and 1"),
        ({"multi": 0.6, "unanswerable": 0.5}, "multi \\+ unanswerable must be at most 1"),
    ],
)
def test_bad_arguments_are_one_clear_error(
    corpus: Path, tmp_path: Path, kwargs: dict[str, Any], message: str
) -> None:
    args = {"n": 2} | kwargs
    n = args.pop("n")
    with pytest.raises(SynthError, match=message):
        run(corpus, n, tmp_path / "q.jsonl", ScriptedLLM(), **args)
    assert not (tmp_path / "q.jsonl").exists()


# --- the CLI --------------------------------------------------------------------------------------


def _invoke(*args: str | Path) -> Any:
    return CliRunner().invoke(app, ["synth", *(str(a) for a in args)])


def _one_error(result: Any, code: int, text: str) -> None:
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and text in lines[0], result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (["{missing}", "--n", "2"], "corpus folder not found"),
        (["{corpus}", "--n", "0"], "--n"),
        (["{corpus}", "--n", "2", "--multi", "1.5"], "--multi"),
        (
            ["{corpus}", "--n", "2", "--multi", "0.6", "--unanswerable", "0.5"],
            "multi + unanswerable",
        ),
        (["{empty}", "--n", "2"], "no readable documents"),
        (["{corpus}", "--n", "2", "--config", "{missing}"], "not found"),
    ],
)
def test_cli_bad_input_is_one_line_exit_2(
    corpus: Path, tmp_path: Path, args: list[str], text: str
) -> None:
    (tmp_path / "empty").mkdir()
    names = {"corpus": corpus, "missing": tmp_path / "missing", "empty": tmp_path / "empty"}
    filled = [a.format(**names) for a in args]
    result = _invoke(
        *filled, "--out", tmp_path / "q.jsonl", "--db", tmp_path / "r.duckdb", "--no-progress"
    )
    _one_error(result, 2, text)


def _fake_config(tmp_path: Path) -> Path:
    return write_fake_experiment(tmp_path / "exp.yaml", name="s")


def test_cli_prints_the_summary_and_the_next_step(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("ragbench.models.make_llm", lambda cfg: ScriptedLLM())
    out = tmp_path / "q.jsonl"
    args = [corpus, "--n", "3", "--out", out, "--config", _fake_config(tmp_path)]
    shares = ["--multi", "0.34", "--unanswerable", "0"]
    result = _invoke(*args, *shares, "--db", tmp_path / "r.duckdb", "--no-progress")
    assert result.exit_code == 0, result.output
    assert "synth: 3 accepted of 3 candidates (target 3: reached the target)" in result.stdout
    assert "kinds: single 2, multi 1, unanswerable 0" in result.stdout
    assert f"questions: {out}" in result.stdout
    assert "next: review the questions in notebooks/05-review-questions.ipynb" in result.stdout
    again = _invoke(*args, "--seed", "4", "--db", tmp_path / "r.duckdb", "--no-progress")
    _one_error(again, 2, "made with seed 0, this run uses 4: use --force")


def test_cli_exits_1_when_nothing_is_accepted_or_the_llm_is_down(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _fake_config(tmp_path)
    monkeypatch.setattr(
        "ragbench.models.make_llm", lambda cfg: ScriptedLLM(check=_always({"answerable": False}))
    )
    args = ["--config", config, "--db", tmp_path / "r.duckdb", "--no-progress"]
    result = _invoke(corpus, "--n", "1", "--out", tmp_path / "q.jsonl", *args)
    assert result.exit_code == 1 and "rejected: not answerable from the span 3" in result.stdout
    _one_error(result, 1, "no question was accepted")
    monkeypatch.setattr("ragbench.models.make_llm", lambda cfg: ScriptedLLM(fail_after=0))
    args[3] = tmp_path / "fresh.duckdb"  # the first run's replies are cached in r.duckdb
    down = _invoke(corpus, "--n", "1", "--out", tmp_path / "down.jsonl", *args)
    _one_error(down, 1, "endpoint down")
    assert "rerun the same command to resume" in down.stderr


# --- the question loader --------------------------------------------------------------------------


def test_written_rows_load_with_read_questions(corpus: Path, tmp_path: Path) -> None:
    from ragbench.data.questions import read_questions

    out = tmp_path / "q.jsonl"
    run(corpus, 4, out, ScriptedLLM(check=_always({"answerable": True})), unanswerable=0.25)
    rows = rows_of(out)
    assert Counter(r["status"] for r in rows)["rejected"] >= 1  # the unanswerable ones
    questions, _warnings = read_questions(out)
    assert [q.question_id for q in questions] == [
        r["question_id"] for r in rows if r["status"] == "accepted"
    ]


# --- the real local model -------------------------------------------------------------------------


@pytest.mark.slow
def test_real_local_model_on_three_passages(tmp_path: Path) -> None:
    """Qwen 1.5B on the 3 passages of one demo document: rows are well formed and every accepted
    span is verbatim in its document (~1 minute on 2 idle cores)."""
    from ragbench.data.corpus import load_corpus

    docs, _ = load_corpus(ROOT / "ragbench" / "demo" / "corpus")
    (doc,) = [d for d in docs if d.id_ == "about/history.md"]  # 3 usable passages
    out = tmp_path / "q.jsonl"
    result = synthesize(
        [doc],
        3,
        out,
        embedding=HASHING,
        multi=0.0,
        unanswerable=0.0,
        db=tmp_path / "r.duckdb",
        progress=False,
    )
    rows = rows_of(out)
    assert len(rows) == result.candidates == 3
    assert result.stopped in ("reached the target", "the usable passages ran out")
    for row in rows:
        assert set(row) == ROW_KEYS and row["user_input"] and row["kind"] == "single"
        assert row["provenance"]["generator"].startswith("local:gguf-sha256:")
        if row["status"] == "accepted":
            assert row["reason"] is None and row["gold_doc_ids"] == [doc.id_]
            for span in row["gold_spans"]:
                assert span in doc.text
        else:
            assert row["reason"].split(":")[0] in result.rejected


# --- hostile folders (issue 23, second round) ----------------------------------------------------


def test_synth_leaves_its_db_and_config_inside_the_corpus_out(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("ragbench.models.make_llm", lambda cfg: ScriptedLLM())
    config = _fake_config(corpus)
    args = [corpus, "--n", "1", "--out", tmp_path / "q.jsonl", "--config", config, "--no-progress"]
    for _ in range(2):  # the second run finds the first one's results file in the corpus
        result = _invoke(*args, "--db", corpus / "cache.db")
        assert result.exit_code == 0, result.output
    assert (corpus / "cache.db").is_file()
    assert "note: 2 file(s) skipped: cache.db: the results file (synth's LLM cache)" in (
        result.stdout
    )


def test_init_with_its_yaml_in_the_corpus_suggests_a_synth_command_that_runs(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ragbench.data.scaffold import init_experiment

    init = init_experiment(corpus, out=corpus / "exp.yaml")
    monkeypatch.setattr("ragbench.models.make_llm", lambda cfg: ScriptedLLM())
    words = init.next_commands[0].split()
    assert words[:2] == ["ragbench", "synth"]
    args = [*words[2:], "--n", "1", "--config", _fake_config(tmp_path), "--no-progress"]
    result = _invoke(*args, "--db", tmp_path / "r.duckdb")
    assert result.exit_code == 0, result.output


def test_synth_follows_links_out_of_the_corpus_only_when_asked(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / "a.txt").symlink_to(corpus / "a.txt")
    monkeypatch.setattr("ragbench.models.make_llm", lambda cfg: ScriptedLLM())
    args = [linked, "--n", "1", "--config", _fake_config(tmp_path), "--no-progress"]
    refused = _invoke(*args, "--out", tmp_path / "q1.jsonl", "--db", tmp_path / "r.duckdb")
    _one_error(refused, 2, "a.txt: symlink to a file outside the corpus folder")
    followed = _invoke(
        *args, "--out", tmp_path / "q2.jsonl", "--db", tmp_path / "r.duckdb", "--follow-symlinks"
    )
    assert followed.exit_code == 0, followed.output
    assert rows_of(tmp_path / "q2.jsonl")[0]["gold_doc_ids"] == ["a.txt"]
