"""Degenerate faithfulness NLI replies: detected, re-asked one statement at a time, recorded.

Recorded replies of the local 1.5B judge (demo q15: one reason copied over five statements, all
verdicts 0) and scripted ones; no real model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import DictCache
from pydantic import ValidationError
from test_judge_prompts import BatchingLLM, ScriptedLLM

from ragbench.config.components import JudgeConfig
from ragbench.judge import degenerate as dg
from ragbench.judge.faithfulness import DEGENERATE
from ragbench.judge.scoring import Judge
from ragbench.models import HashingEmbedding

# --- demo q15, as recorded ---------------------------------------------------------------------------

Q15 = "When did the Library of Things launch?"
Q15_ANSWER = (
    "The Library of Things opened on 7 October 2024 at the Central Library and Pennick Bridge "
    "Library, with 120 items to borrow, from tents to a sewing machine [2]."
)
Q15_CONTEXT = [
    "The Library of Things opened on 7 October 2024 at the Central Library and Pennick Bridge "
    "Library, with 120 items to borrow, from tents and pressure washers to a portable projector "
    "and a sewing machine."
]
Q15_STATEMENTS = [
    "The Library of Things opened on 7 October 2024.",
    "The Library of Things opened at the Central Library.",
    "The Library of Things opened at Pennick Bridge Library.",
    "The Library of Things has 120 items to borrow.",
    "The Library of Things lends tents and a sewing machine.",
]
Q15_REASON = "The context does not provide information about its location or the number of items."


def statements(*texts: str) -> str:
    return json.dumps({"statements": list(texts)})


def compact_reply(*items: tuple[str, int]) -> str:
    return json.dumps({"verdicts": [{"reason": r, "verdict": v} for r, v in items]})


def ragas_reply(*items: tuple[str, str, int]) -> str:
    return json.dumps(
        {"statements": [{"statement": s, "reason": r, "verdict": v} for s, r, v in items]}
    )


def single(reason: str, verdict: int) -> str:
    return json.dumps({"reason": reason, "verdict": verdict})


Q15_REPLY = compact_reply(*[(Q15_REASON, 0)] * 5)
SUPPORTED = [single(f"The context states that {s[:-1].lower()}.", 1) for s in Q15_STATEMENTS]


def judge(llm: Any, cache: Any = None, **cfg: Any) -> Judge:
    config = JudgeConfig(provider="fake", max_retries=0, **cfg)
    return Judge(config, llm, HashingEmbedding(), cache=cache)


def q15(llm: Any, cache: Any = None, **cfg: Any) -> Any:
    return judge(llm, cache, **cfg).score("faithfulness", Q15, Q15_ANSWER, Q15_CONTEXT)


def steps(score: Any) -> list[dict[str, Any]]:
    return [s[DEGENERATE] for s in score.details["trace"] if DEGENERATE in s]


# --- the q15 case end to end -------------------------------------------------------------------------


def test_q15_copied_reason_is_reasked_one_statement_at_a_time() -> None:
    llm = ScriptedLLM(replies=[statements(*Q15_STATEMENTS), Q15_REPLY, *SUPPORTED])
    score = q15(llm)
    assert score.error is None and score.value == 1.0  # was 0.0 as recorded
    # the five re-asks: each prompt holds the context and its one statement, no other
    reasks = llm.prompts[2:]
    assert len(reasks) == 5
    for k, prompt in enumerate(reasks):
        asked = prompt[prompt.rindex("Now perform") :]
        assert Q15_CONTEXT[0] in asked and Q15_STATEMENTS[k] in asked
        assert not any(s in asked for j, s in enumerate(Q15_STATEMENTS) if j != k)
    assert all(list(schema["properties"]) == ["reason", "verdict"] for schema in llm.schemas[2:])
    # recorded: which problem, which statements, old and new verdicts, and the counts
    assert steps(score) == [
        {
            "reply": "batch",
            "problems": [{"problem": "copied_reason", "statements": [0, 1, 2, 3, 4]}],
            "reasked": [0, 1, 2, 3, 4],
            "old": [0, 0, 0, 0, 0],
            "new": [1, 1, 1, 1, 1],
        }
    ]
    assert score.details["judge_degenerate"] == 1 and score.details["judge_reasked"] == 5
    assert score.details["judge_calls"] == 7
    assert [next(iter(s)) for s in score.details["trace"]] == [
        "StatementGeneratorOutput",
        "Verdicts",
        *["Judgement"] * 5,
        DEGENERATE,
    ]


def test_q15_rerun_hits_the_cache() -> None:
    cache = DictCache()
    llm = ScriptedLLM(replies=[statements(*Q15_STATEMENTS), Q15_REPLY, *SUPPORTED])
    first = q15(llm, cache)
    again = q15(ScriptedLLM(), cache)  # no replies left: any call would fail
    assert again.cached and again.value == first.value == 1.0
    assert again.details["judge_reasked"] == 5
    # without the verdict, every call (re-asks included) is served from the per-call cache
    for key in [k for k in cache.data if k[0] == "judge"]:
        del cache.data[key]
    calls = q15(ScriptedLLM(), cache)
    assert not calls.cached and calls.value == 1.0
    assert calls.details["judge_calls"] == 0 and calls.details["judge_cached_calls"] == 7
    assert steps(calls) == steps(first)


def test_repair_off_gives_todays_score_and_trace() -> None:
    llm = ScriptedLLM(replies=[statements(*Q15_STATEMENTS), Q15_REPLY])
    score = q15(llm, repair=False)
    assert score.value == 0.0 and len(llm.prompts) == 2
    assert score.details["trace"] == [
        {"StatementGeneratorOutput": {"statements": Q15_STATEMENTS}},
        {"Verdicts": json.loads(Q15_REPLY)},
    ]
    assert "judge_degenerate" not in score.details and "judge_reasked" not in score.details
    # ragas' prompts too: a reply that drops a statement is scored as ragas scores it
    reply = ragas_reply(*[(s, "r", 1) for s in Q15_STATEMENTS[:2]])
    llm = ScriptedLLM(replies=[statements(*Q15_STATEMENTS), reply])
    score = q15(llm, repair=False, prompts="ragas")
    assert score.value == 1.0 and len(llm.prompts) == 2
    assert DEGENERATE not in json.dumps(score.details)


def test_repair_is_part_of_the_verdict_key_but_not_of_the_call_key() -> None:
    inputs = {"user_input": Q15, "response": Q15_ANSWER, "retrieved_contexts": Q15_CONTEXT}
    on, off = judge(None), judge(None, repair=False)
    single_mode = judge(None, nli="single")
    keys = {j.cache_key("faithfulness", inputs) for j in (on, off, single_mode)}
    assert len(keys) == 3
    off_key = off.cache_key("faithfulness", inputs)
    # a call's reply does not depend on what is done with it: replies cached before still serve
    assert on.llm.identity == off.llm.identity == single_mode.llm.identity
    # the verdict threshold reads a score, it does not make one
    same = judge(None, verdict_threshold=0.8).cache_key("faithfulness", inputs)
    assert same == on.cache_key("faithfulness", inputs)
    # the other metrics' verdicts are untouched by the settings: their keys stay
    other = {"user_input": Q15, "response": Q15_ANSWER}
    keys = {j.cache_key("answer_relevancy", other) for j in (on, off, single_mode)}
    assert len(keys) == 1
    # and a new version of the checks judges faithfulness again
    from ragbench.judge import faithfulness as jf

    before = on.cache_key("faithfulness", inputs)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(jf, "VERSION", jf.VERSION + 1)
        assert on.cache_key("faithfulness", inputs) != before
        assert off.cache_key("faithfulness", inputs) == off_key


# --- what is re-asked --------------------------------------------------------------------------------


def test_a_clean_reply_costs_no_extra_call() -> None:
    reply = compact_reply(
        ("The context says it opened on 7 October 2024.", 1),
        ("The context names no café.", 0),
    )
    llm = ScriptedLLM(replies=[statements("It opened on 7 October 2024.", "It has a café."), reply])
    score = q15(llm)
    assert score.value == 0.5 and len(llm.prompts) == 2
    assert score.details["judge_degenerate"] == 0 and score.details["judge_reasked"] == 0
    assert steps(score) == []


def test_only_the_flagged_statements_are_reasked() -> None:
    said = ["It opened in 2024.", "It has 120 items.", "It has a café.", "It lends tents."]
    reply = compact_reply(
        ("The context gives the year 2024.", 1),
        ("Not in the context.", 0),
        ("Not in the context.", 0),
        ("The context states that the statement is not supported.", 1),  # contradiction
    )
    llm = ScriptedLLM(
        replies=[
            statements(*said),
            reply,
            single("The context says 120 items.", 1),
            single("No café is mentioned.", 0),
            single("Tents are listed.", 1),
        ]
    )
    score = q15(llm)
    assert score.value == 0.75  # 1 kept, then 1, 0, 1 re-asked
    (step,) = steps(score)
    assert step["reasked"] == [1, 2, 3] and step["old"] == [0, 0, 1] and step["new"] == [1, 0, 1]
    assert [p["problem"] for p in step["problems"]] == ["copied_reason", "contradiction"]
    assert said[0] not in "".join(llm.prompts[2:])


def test_a_reasked_verdict_that_contradicts_its_reason_is_kept_and_flagged() -> None:
    llm = ScriptedLLM(
        replies=[
            statements(*Q15_STATEMENTS[:2]),
            compact_reply((Q15_REASON, 0), (Q15_REASON, 0)),
            single("The context states the date.", 1),
            single("The context does not mention the Central Library.", 1),  # degenerate again
        ]
    )
    score = q15(llm)
    assert score.value == 1.0 and len(llm.prompts) == 4  # kept as given, never asked a third time
    batch, kept = steps(score)
    assert batch["reasked"] == [0, 1]
    assert kept == {
        "reply": "single",
        "problems": [{"problem": "contradiction", "statements": [1], "detail": "does not mention"}],
        "kept": True,
    }
    assert score.details["judge_degenerate"] == 2 and score.details["judge_reasked"] == 2


def test_a_failed_reask_fails_the_score_and_is_not_cached() -> None:
    cache = DictCache()
    llm = ScriptedLLM(replies=[statements(*Q15_STATEMENTS), Q15_REPLY, "not json"])
    score = q15(llm, cache)
    assert score.value is None and "invalid JSON" in (score.error or "")
    assert not [k for k in cache.data if k[0] == "judge"]


# --- ragas' prompts: echoed statements ----------------------------------------------------------------


def test_ragas_prompts_a_missing_statement_reasks_all_of_them() -> None:
    said = Q15_STATEMENTS[:3]
    reply = ragas_reply((said[0], "The date is given.", 1), (said[2], "Pennick Bridge.", 1))
    llm = ScriptedLLM(
        replies=[
            statements(*said),
            reply,
            *[single(f"why {k}", v) for k, v in enumerate((1, 0, 1))],
        ]
    )
    score = q15(llm, prompts="ragas")
    assert score.value == pytest.approx(2 / 3)  # as the re-asks say, not 2 of 2 (ragas' 1.0)
    (step,) = steps(score)
    assert step["problems"][0] == {
        "problem": "statement_count",
        "statements": [0, 1, 2],
        "detail": "2 judged, 3 asked",
    }
    assert step["reasked"] == [0, 1, 2] and step["old"] == [1, 1, None]


def test_ragas_prompts_an_altered_statement_is_reasked_alone() -> None:
    said = Q15_STATEMENTS[:2]
    reply = ragas_reply(
        (said[0].upper(), "The date is given.", 1),  # case and punctuation do not matter
        ("The Library of Things opened at the Pennick Bridge Library.", "It did.", 1),
    )
    llm = ScriptedLLM(replies=[statements(*said), reply, single("Central Library named.", 0)])
    score = q15(llm, prompts="ragas")
    assert score.value == 0.5 and len(llm.prompts) == 3
    (step,) = steps(score)
    assert step["problems"] == [{"problem": "statement_altered", "statements": [1]}]
    assert step["reasked"] == [1] and step["old"] == [1] and step["new"] == [0]


# --- nli: single ---------------------------------------------------------------------------------------


def test_single_nli_asks_each_statement_in_one_batch() -> None:
    said = Q15_STATEMENTS[:3]
    llm = BatchingLLM(replies=[statements(*said), single("a", 1), single("b", 0), single("c", 1)])
    score = q15(llm, nli="single")
    assert score.value == pytest.approx(2 / 3)
    assert len(llm.prompts) == 1  # the statements were drawn; no batch NLI call
    (batch,) = llm.batches
    assert [said[k] in batch[k] for k in range(3)] == [True] * 3
    assert score.details["judge_batched_calls"] == 3 and score.details["judge_calls"] == 4
    # the calls of one answer share everything before the statement: the context included
    shared = min(len(p) for p in batch)
    while len({p[:shared] for p in batch}) > 1:
        shared -= 1
    assert Q15_CONTEXT[0] in batch[0][:shared]


def test_single_nli_without_batching_and_its_contradictions_are_flagged() -> None:
    said = Q15_STATEMENTS[:2]
    llm = ScriptedLLM(
        replies=[
            statements(*said),
            single("Not in the context.", 0),
            single("Not in the context.", 1),  # the same reason twice is fine one at a time
        ]
    )
    score = q15(llm, nli="single")
    assert score.value == 0.5 and len(llm.prompts) == 3
    (step,) = steps(score)
    assert step["problems"][0]["statements"] == [1] and step["kept"] is True
    assert score.details["judge_reasked"] == 0
    off = ScriptedLLM(replies=[statements(*said), single("x", 0), single("x", 1)])
    assert steps(q15(off, nli="single", repair=False)) == []


# --- settings --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        ({"nli": "batched"}, "judge nli mode"),
        ({"repair": "yes"}, "repair"),
        ({"verdict_threshold": 0.0}, "verdict_threshold"),
        ({"verdict_threshold": 1.5}, "verdict_threshold"),
        ({"verdict_threshold": True}, "verdict_threshold"),
    ],
)
def test_bad_judge_settings_are_config_errors(cfg: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        JudgeConfig(**cfg)


def test_judge_settings_defaults() -> None:
    cfg = JudgeConfig()
    assert (cfg.repair, cfg.nli, cfg.verdict_threshold) == (True, "batch", 1.0)
    assert JudgeConfig(verdict_threshold=1).verdict_threshold == 1.0


def test_judge_check_reads_the_verdict_threshold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ragbench.data import labelled as lb
    from ragbench.judge import check as jc

    seen: list[float] = []
    agreement = jc.agreement
    monkeypatch.setattr(jc, "agreement", lambda s, t, **kw: seen.append(t) or agreement(s, t, **kw))
    path = tmp_path / "two.csv"
    path.write_text("context,answer,label\nA is B.,A is B.,1\nC is D.,C is E.,0\n")
    loaded = lb.load_labelled(path)
    cfg = JudgeConfig(provider="fake", verdict_threshold=0.9)
    db = tmp_path / "jc.duckdb"
    result = jc.judge_check(loaded, cfg, db, progress=False, dataset="two")
    assert result.threshold == 0.9 and "faithfulness >= 0.9" in result.summary()
    override = jc.judge_check(loaded, cfg, db, threshold=0.3, progress=False, dataset="two")
    assert override.threshold == 0.3 and seen == [0.9, 0.3]
    assert "nli batch, repair on" in result.summary()


# --- the detector on its own -------------------------------------------------------------------------

S = "The Library of Things opened on 7 October 2024."


@pytest.mark.parametrize(
    ("reason", "verdict", "statement", "label"),
    [
        # verdict 1, the reason says the context does not back it
        ("The context does not provide information about the date.", 1, S, "does not mention"),
        ("The context doesn't mention it.", 1, S, "does not mention"),
        ("There is no information about this in the context.", 1, S, "no information"),
        ("No mention of the number of items.", 1, S, "no information"),
        ("This is not explicitly stated in the context.", 1, S, "not mentioned"),
        ("The statement cannot be inferred from the context.", 1, S, "cannot be inferred"),
        ("The statement is not supported by the context.", 1, S, "not mentioned"),
        ("Not in the context.", 1, S, "not in the context"),
        ("The context contradicts this: it opened in 2023.", 1, S, "contradicts"),
        ("The context is inconsistent with the statement.", 1, S, "contradicts"),
        # verdict 0, the reason affirms the statement itself
        ("The statement is directly supported by the context.", 0, S, "the statement is supported"),
        ("This can be directly inferred from the context.", 0, S, "this can be inferred"),
        ("It is stated in the context.", 0, S, "this can be inferred"),
        ("The context states this.", 0, S, "the context states this"),
        (
            "The context states that the Library of Things opened on 7 October 2024.",
            0,
            S,
            "the context states the statement",
        ),
        (  # the statement's own negation is not the reason's
            "The context states that the library does not open on Sundays.",
            0,
            "The library does not open on Sundays.",
            "the context states the statement",
        ),
    ],
)
def test_contradiction_patterns(reason: str, verdict: int, statement: str, label: str) -> None:
    assert dg.contradiction(reason, verdict, statement) == label


@pytest.mark.parametrize(
    ("reason", "verdict", "statement"),
    [
        ("It does not contradict the context.", 1, S),
        ("The context doesn't mention anything that contradicts this.", 1, S),
        ("There is no contradiction with the context.", 1, S),
        ("The context does not mention the hour, but it states the date.", 1, S),
        (
            "The context states the library does not provide parking.",
            1,
            "It does not provide parking.",
        ),
        ("The context states that the Library of Things opened on 7 October 2024.", 1, S),
        ("The context states that the Library of Things opened on 7 October 2023.", 0, S),
        ("It is stated in the context that the library opened in 2023.", 0, S),
        (
            "The context does not state that the library does not open on Sundays.",
            0,
            "The library does not open on Sundays.",
        ),
        # ragas' own few-shot reasons, each with its verdict
        (
            "John's major is explicitly stated as Computer Science, not Biology.",
            0,
            "John is majoring in Biology.",
        ),
        (
            "The context states that John's major is Computer Science.",
            0,
            "John is majoring in Biology.",
        ),
        (
            "The context mentions courses in Data Structures, Algorithms, and Database "
            "Management, but does not mention Artificial Intelligence.",
            0,
            "John is taking a course on Artificial Intelligence.",
        ),
        (
            "The context states that John is a diligent student who spends a significant amount "
            "of time studying and completing assignments.",
            1,
            "John is a dedicated student.",
        ),
        (
            "There is no information in the context about John having a part-time job.",
            0,
            "John has a part-time job.",
        ),
    ],
)
def test_sentences_that_are_not_contradictions(reason: str, verdict: int, statement: str) -> None:
    assert dg.contradiction(reason, verdict, statement) is None


def test_copied_reasons_after_normalising_and_short_ones_count() -> None:
    reasons = [
        "Stated in the context.",
        "stated in  the context",
        "A reason.",
        "STATED IN THE CONTEXT!",
    ]
    assert dg.copied_reasons(reasons) == [(0, 1, 3)]
    assert dg.copied_reasons(["", ""]) == [(0, 1)]
    assert dg.copied_reasons(["a", "b"]) == []


def test_find_and_reask_on_replies() -> None:
    said = ["A is B.", "C is D.", "E is F."]
    clean = [dg.Judged("first", 1), dg.Judged("second", 0), dg.Judged("third", 1)]
    assert dg.find(said, clean, echoed=False) == []
    copied = [dg.Judged("same", 1), dg.Judged("other", 0), dg.Judged("Same.", 1)]
    (problem,) = dg.find(said, copied, echoed=False)
    assert problem == dg.Problem("copied_reason", (0, 2))
    assert dg.reask([problem], 3) == [0, 2]
    # ragas' prompt echoes: a missing statement misaligns every verdict
    echoed = [dg.Judged("x", 1, "A is B."), dg.Judged("y", 1, "E is F.")]
    problems = dg.find(said, echoed, echoed=True)
    assert [p.name for p in problems] == ["statement_count", "statement_altered"]
    assert problems[1].statements == (1,)
    assert dg.reask(problems, 3) == [0, 1, 2]
    # one extra item: the count, and the extra one's copied reason names no asked statement
    extra = [*clean, dg.Judged("first", 1)]
    problems = dg.find(said, extra, echoed=False)
    assert [(p.name, p.statements) for p in problems] == [
        ("statement_count", (0, 1, 2)),
        ("copied_reason", (0,)),
    ]


# --- a reply that loops until its budget runs out ------------------------------------------------

# the statement generator's reply to BEGIN wow-dev-0271 ran to 6,777 tokens over three attempts
LOOP = '{"statements": ["The blues form is ubiquitous in jazz.", ' + (
    '"The blues form is ubiquitous in rhythm and blues and rock and roll.", ' * 60
)
VARIED = json.dumps(
    {
        "statements": [
            f"Statement {k} says that {w} {v} the {o} in {y}."
            for k, (w, v, o, y) in enumerate(
                zip(
                    "Ada Bob Cy Dee Eve Fay Gus Hal Ivy Jo Kai Lu Mo Ned Oz Pip".split() * 3,
                    "opened closed lent built sold moved ran read".split() * 6,
                    "library market school bridge station museum park hall".split() * 6,
                    [str(1900 + 7 * k) for k in range(48)],
                    strict=False,
                )
            )
        ]
    }
)


def test_looped_finds_a_repeating_tail_only() -> None:
    from ragbench.judge.adapter import looped

    assert looped(LOOP)
    assert len(VARIED) > 2000 and not looped(VARIED)  # long but not repeating
    assert not looped('{"statements": ["a", "a", "a"]}')  # too short to say


def test_a_looping_reply_is_not_asked_again_with_a_larger_budget() -> None:
    llm = ScriptedLLM(replies=[LOOP, statements("never asked")])
    cfg = JudgeConfig(provider="fake", max_retries=2)
    score = Judge(cfg, llm, HashingEmbedding()).score("faithfulness", Q15, Q15_ANSWER, Q15_CONTEXT)
    assert score.value is None
    assert score.error == (
        "judge failed after 1 attempt: StatementGeneratorOutput reply repeated itself until its "
        "1024-token budget ran out (a decoding loop; not asked again)"
    )
    assert len(llm.prompts) == 1 and len(llm.replies) == 1


# the two chunks demo q15 retrieved with chunk_size=128, top_k=2 (make demo, 2026-12-08)
Q15_CHUNKS = [
    "The name came from the old harbour light on Lantern Street, whose former customs house "
    "became the new Central Library. The first director was Marguerite Osei-Lund, who led the "
    "network from 1987 until her retirement in 2004.\n\n## Growth\n\n- **1994** - Northcliff "
    "Library, until then run by the Northcliff Community Association, joined the network as its "
    "fourth branch.\n- **1998** - The first shared computer catalogue replaced the card "
    "catalogues in all four libraries.\n- **2001** - Pennick Bridge Library opened in the "
    "restored Victorian fish market hall on Market Row.",
    "Pennick Bridge Library recorded the fastest growth in visits, up 12% on 2023.\n\nAnnual "
    "Report 2024 - page 1 of 2\n\nHighlights of 2024\n\nAnchor Row Library reopened on 3 June "
    "2024 after a five-week refurbishment that added new heating, LED lighting and an accessible "
    "toilet.\n\n" + Q15_CONTEXT[0],
]


def test_focus_gives_a_reasked_statement_the_sentences_it_shares_words_with() -> None:
    from ragbench.metrics.text import focus

    context = "\n".join(Q15_CHUNKS)
    for statement in Q15_STATEMENTS:
        focused = focus(context, statement)
        assert Q15_CONTEXT[0] in focused and "Anchor Row" not in focused, statement
    assert focus(context, Q15_STATEMENTS[0]) == Q15_CONTEXT[0]
    # the best sentence (8 words shared), then one sharing at least half as many (4), in
    # context order; "recorded the fastest growth" shares 3 and is left out
    market = "- **2001** - Pennick Bridge Library opened in the restored Victorian fish market hall"
    focused = focus(context, "Pennick Bridge Library opened in 2001 in a fish market hall.")
    assert focused == f"{market} on Market Row. {Q15_CONTEXT[0]}"
    assert focus(Q15_CONTEXT[0], "Anything at all.") == Q15_CONTEXT[0]  # short: whole
    assert focus(context, "Zebras graze.") == context  # no word shared: whole


def test_a_reask_sees_the_focused_context_and_the_rest_stands() -> None:
    llm = ScriptedLLM(replies=[statements(*Q15_STATEMENTS), Q15_REPLY, *SUPPORTED])
    score = judge(llm).score("faithfulness", Q15, Q15_ANSWER, Q15_CHUNKS)
    assert score.value == 1.0
    for prompt in llm.prompts[2:]:
        asked = prompt[prompt.rindex("Now perform") :]
        assert Q15_CONTEXT[0] in asked and "Anchor Row" not in asked
    assert "Anchor Row" in llm.prompts[1]  # the batch NLI call saw every chunk
