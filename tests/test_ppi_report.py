"""Judged numbers corrected by people's labels: the PPI ranking in stats, and what the report, the
gate and diff do with it.

The main scenario is a fake-model run (demo questions, trials top_k=2 and top_k=3) whose
faithfulness scores are then rescored by a scripted, biased judge: lenient on top_k=2 (every
answer scores at least 0.7, so every verdict is "supported") and harsh on top_k=3 (a supported
answer scores 0.75, an unsupported one 0.1). People (the synthetic labels below) find 30% of
top_k=2's answers supported and 90% of top_k=3's: the judge ranks top_k=2 first (mean 0.79 vs
0.69), people rank top_k=3 first, and a report with enough labels must follow the people.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import fake_experiment

import ragbench
from ragbench import stats
from ragbench.config.experiment import parse_config
from ragbench.records import ScoreRow
from ragbench.render.report import load
from ragbench.results import corrected
from ragbench.results.diff import compare_runs
from ragbench.results.gate import check_gate
from ragbench.results.labelling import LabelSession
from ragbench.store import Store

LENIENT, HARSH = "top_k=2", "top_k=3"


def truth(trial_label: str, k: int) -> bool:
    """Whether people call question k's answer supported: 30% of top_k=2's, 90% of top_k=3's."""
    return k % 10 in (0, 1, 2) if trial_label == LENIENT else k % 10 != 0


def biased_judge(trial_label: str, k: int) -> float:
    if trial_label == LENIENT:
        return 1.0 if truth(trial_label, k) else 0.7
    return 0.75 if truth(trial_label, k) else 0.1


def make_run(db: Path) -> str:
    """The fake-model run, its faithfulness rescored by the scripted judge; returns its id."""
    config = parse_config(
        fake_experiment(
            name="ppi",
            dataset={"loader": "demo"},
            sweep={"retrieval.top_k": [2, 3]},
            metrics=["hit_rate", "faithfulness", "answer_correctness"],
        ),
        source="test",
    )
    run_id = ragbench.run(config, db=db, progress=False).run_id
    store = Store(db)
    trials = store.trials(run_id)
    names = dict(zip(trials.trial_id, trials.label, strict=True))
    scores = store.scores(run_id)
    faith = scores[scores.metric == "faithfulness"]
    order = {q: k for k, q in enumerate(sorted(set(faith.question_id)))}
    store.write(
        scores=[
            ScoreRow(run_id, t, q, "faithfulness", biased_judge(names[t], order[q]), details=d)
            for t, q, d in zip(faith.trial_id, faith.question_id, faith.details, strict=True)
        ]
    )
    return run_id


def label_truthfully(db: Path, n: int) -> LabelSession:
    """Label the first ``n`` items of the seeded sample as people would (scripted truth)."""
    session = LabelSession.open(db, experiment="ppi", labeller="synthetic", n=n)
    order = {q: k for k, q in enumerate(sorted(_all(db)))}  # as make_run numbered them
    for k, item in enumerate(session.items):
        yes = truth(item.trial_label, order[item.question_id])
        session.label(k, yes, reason="" if yes == item.verdict else "scripted disagreement")
    return session


def _all(db: Path) -> set[str]:
    store = Store(db, read_only=True)
    run_id = store.latest_run("ppi")
    assert run_id is not None
    scores = store.scores(run_id)
    return set(scores[scores.metric == "faithfulness"].question_id)


@pytest.fixture(scope="module")
def unlabelled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    db = tmp_path_factory.mktemp("ppi") / "judge-only.duckdb"
    return db, make_run(db)


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    db = tmp_path_factory.mktemp("ppi") / "labelled.duckdb"
    run_id = make_run(db)
    label_truthfully(db, 24)  # 12 per trial, paired
    return db, run_id


# --- the report -----------------------------------------------------------------------------------


def test_without_labels_the_report_is_judge_only_and_says_how_to_add_them(
    unlabelled: tuple[Path, str],
) -> None:
    db, _ = unlabelled
    rep = load(db, experiment="ppi")
    labels_of = {r.trial_id: r.label for r in rep.trials.itertuples()}
    assert labels_of[rep.best["faithfulness"]] == LENIENT  # the judge's favourite
    assert rep.rankings == rep.judge_rankings and rep.label_use["faithfulness"].used is False
    lines = rep.section("labels").lines
    assert lines[0].startswith("faithfulness: judge only: no labels; label a sample in ")
    assert "notebooks/06-label-judged.ipynb" in lines[0] and "ragbench label import" in lines[0]
    assert lines[1].startswith("answer_correctness: judge only: no labels")
    assert not rep.section("ppi").shown
    for text in (rep.table, rep.html(), rep.markdown()):
        assert "faithfulness (PPI)" not in text
        assert "faithfulness: judge only: no labels" in text
    assert "(people, PPI" not in " ".join(rep.sentences())


def test_with_enough_labels_the_report_ranks_by_what_people_say(
    labelled: tuple[Path, str],
) -> None:
    db, run_id = labelled
    rep = load(db, experiment="ppi")
    labels_of = {r.trial_id: r.label for r in rep.trials.itertuples()}
    judge_best = rep.judge_rankings["faithfulness"].trial_id.iloc[0]
    assert labels_of[judge_best] == LENIENT  # the judge alone still prefers top_k=2
    assert labels_of[rep.best["faithfulness"]] == HARSH  # the report follows the people
    use = rep.label_use["faithfulness"]
    assert use.used and use.ranking.labels_per_trial == {t: 12 for t in labels_of}
    ranking = rep.rankings["faithfulness"]
    assert ranking.verdict.tolist() == ["best", "worse"]  # 90% vs 30%: significant
    assert ranking.n.tolist() == [12, 12]
    # the corrected means are the people's scale: near 0.9 and 0.3, not the judge's 0.69 / 0.79
    means = dict(zip(ranking.label, ranking["mean"], strict=True))
    assert 0.7 < means[HARSH] < 1.0 and 0.1 < means[LENIENT] < 0.5
    # every figure says which it used
    sentence = next(s for s in rep.sentences() if s.startswith("faithfulness"))
    assert sentence.startswith(f"faithfulness (people, PPI from 24 labels): best = {HARSH}")
    lines = rep.section("labels").lines
    assert lines[0] == (
        "faithfulness: ranked by the PPI estimate from 24 labels (at least 12 per trial): "
        "the best trial and the verdicts use it"
    )
    assert lines[1].startswith("faithfulness: the judge agrees with 24 labels on this run: ")
    assert "balanced accuracy" in lines[1] and "Cohen's kappa" in lines[1]
    assert "answer_correctness: judge only: no labels" in lines[2]
    assert "share of answers people call supported" in rep.section("labels").note
    assert "Metrics ranked by human labels: PPI means" in rep.method_note()
    ppi = rep.section("ppi")
    assert ppi.columns == corrected.PPI_COLUMNS and [r[1] for r in ppi.rows] == [HARSH, LENIENT]
    assert ppi.rows[1][-1] == "worse" and ppi.rows[1][2] > ppi.rows[0][2]  # judge means flipped
    # the score table: the PPI column beside the judge's, in every view
    table = rep.table_summary
    columns = list(dict.fromkeys(table.metric))
    assert columns.index("faithfulness (PPI)") == columns.index("faithfulness") + 1
    assert set(table[table.metric == "faithfulness (PPI)"].method) == {"ppi"}
    for text in (rep.table, rep.html(), rep.markdown()):
        assert "faithfulness (PPI)" in text and "ranked by the PPI estimate from 24 labels" in text
    marks = rep.table_verdicts
    assert marks["faithfulness"][judge_best] == "best"  # the judge's own column: its own marks
    assert marks["faithfulness (PPI)"][rep.best["faithfulness"]] == "best"
    # a metric people separated needs no more labels, and the judge-only plan is not shown
    assert not [x for x in rep.section("more_labels").lines if x.startswith("faithfulness")]
    assert not [x for x in rep.more_verdicts() if x.startswith("faithfulness")]


def test_the_gate_and_diff_pick_the_same_best_trial(labelled: tuple[Path, str]) -> None:
    db, run_id = labelled
    store = Store(db, read_only=True)
    gate = check_gate(store, "ppi", {"faithfulness": 0.0})
    assert gate.label == HARSH
    assert load(db, experiment="ppi").best["faithfulness"] == gate.trial_id
    diff = compare_runs(store, run_id, run_id, metric="faithfulness")
    assert diff.label_b == HARSH
    # a judged metric without labels keeps the judge's rule
    assert check_gate(store, "ppi", {"hit_rate": 0.0}).trial_id == stats.best_trial(
        store.scores(run_id), "hit_rate"
    )


def test_too_few_labels_leave_it_judge_only_and_say_how_many_more(tmp_path: Path) -> None:
    db = tmp_path / "few.duckdb"
    make_run(db)
    label_truthfully(db, 12)  # 6 per trial
    rep = load(db, experiment="ppi")
    assert rep.rankings["faithfulness"].equals(rep.judge_rankings["faithfulness"])
    line = rep.section("labels").lines[0]
    assert line.startswith(
        "faithfulness: judge only: 12 label(s), fewer than 10 on 2 of 2 judged trial(s) "
        "(fewest: 6 on 'top_k=2'); at least 10 per judged trial are needed; label a sample in"
    )
    more = rep.section("more_labels").lines
    assert more[0].startswith("faithfulness: 8 more label(s) (at least 10 per judged trial")
    assert rep.section("labels").lines[1].startswith("faithfulness: the judge agrees with 12")


# --- labels_needed in the report: a close call ----------------------------------------------------


def close_call(tmp_path: Path, gap: float = 0.08, n_questions: int = 400, seed: int = 0) -> Path:
    """Two trials of a fake run: people call 68% of A's answers supported and 60% of B's; the
    judge's graded score follows that (0.4-1 when supported, 0-0.6 when not) on all 400
    questions; 12 labels per trial. Too few labels to separate them, enough judged questions for
    more labels to."""
    from types import SimpleNamespace

    db = tmp_path / "close.duckdb"
    store = Store(db)
    store.start_run("close", "close", {"metrics": ["faithfulness"]}, {}, None, True, "synthetic")
    params = SimpleNamespace(model_dump=lambda: {"judge": {"verdict_threshold": 0.5}})
    store.add_trials(
        "close",
        [SimpleNamespace(trial_id=t, label=t, pipeline=params, overrides={}) for t in "AB"],
    )
    rng = np.random.default_rng(seed)
    people, rows = {}, []
    for t, share in (("A", 0.6 + gap), ("B", 0.6)):
        supported = rng.uniform(size=n_questions) < share
        judge = np.where(
            supported, rng.uniform(0.4, 1, n_questions), rng.uniform(0, 0.6, n_questions)
        )
        for k in range(n_questions):
            people[(t, f"q{k:03d}")] = bool(supported[k])
            rows.append(ScoreRow("close", t, f"q{k:03d}", "faithfulness", float(judge[k])))
    store.write(scores=rows)
    store.finish_run("close", "finished")
    session = LabelSession.open(db, run_id="close", labeller="synthetic", n=24)
    for k, item in enumerate(session.items):
        yes = people[item.key]
        session.label(k, yes, reason="" if yes == item.verdict else "scripted disagreement")
    return db


def test_how_many_labels_would_separate_the_best_from_the_runner_up(tmp_path: Path) -> None:
    db = close_call(tmp_path)
    rep = load(db, run_id="close")
    ranking = rep.rankings["faithfulness"]
    assert rep.label_use["faithfulness"].used and ranking.verdict.iloc[1] == "tied"
    use = rep.label_use["faithfulness"].ranking
    runner = str(ranking.trial_id.iloc[1])
    d = use.diffs[runner]
    needed = stats.labels_needed(d, -d.mean)
    assert needed > use.pairs[runner]
    (line,) = [x for x in rep.section("more_labels").lines if x.startswith("faithfulness")]
    assert f"about {needed} questions labelled in both would show it" in line
    assert f"{needed - use.pairs[runner]} more per trial" in line
    assert "(80% power, alpha 0.05/1)" in line
    assert "How many labels" in rep.table and line in rep.table


def test_no_number_of_labels_helps_when_the_judge_part_is_too_wide() -> None:
    """labels_needed returns 0 when the unlabelled (judge) variance alone exceeds the gap's room:
    the line says to judge more questions first."""
    estimate = stats.PPIEstimate(
        mean=-0.01, ci_low=-0.5, ci_high=0.5, se=0.25, var_unlabelled=0.05, var_rectifier=0.01,
        lam=1.0, n_labels=12, n_unlabelled=10, p_value=0.9, judge_mean=0.0, label_mean=0.0,
    )  # fmt: skip
    assert stats.labels_needed(estimate, 0.01) == 0
    ranking = stats.PPIRanking(
        "faithfulness", {"A": 12, "B": 12}, diffs={"B": estimate}, pairs={"B": 12}, order=["A", "B"]
    )
    frame = pd.DataFrame({"trial_id": ["A", "B"], "label": ["A", "B"], "verdict": ["best", "tied"]})
    uses = {"faithfulness": corrected.MetricLabels("faithfulness", ranking, None)}
    (line,) = corrected.labels_needed_lines(uses, {"faithfulness": frame})
    assert line.startswith("faithfulness: no number of labels separates 'A' from the runner-up")
    assert "judge more questions first" in line


# --- stats: the ranking on corrected means --------------------------------------------------------


def long_scores(values: dict[str, dict[str, float]], metric: str = "m") -> pd.DataFrame:
    return pd.DataFrame(
        [(t, t, q, metric, v) for t, qs in values.items() for q, v in qs.items()],
        columns=["trial_id", "label", "question_id", "metric", "value"],
    )


def test_ppi_ranking_estimates_are_ppi_mean_per_trial() -> None:
    rng = np.random.default_rng(1)
    judged = {t: {f"q{k}": float(rng.uniform()) for k in range(30)} for t in "AB"}
    people = {t: {f"q{k}": float(judged[t][f"q{k}"] > 0.4) for k in range(12)} for t in "AB"}
    labels = long_scores(people).drop(columns="label")
    ranking = stats.ppi_ranking(long_scores(judged), labels, "m")
    assert ranking.used and ranking.labels_per_trial == {"A": 12, "B": 12}
    for t in "AB":
        lab = sorted(people[t])
        expected = stats.ppi_mean(
            [people[t][q] for q in lab],
            [judged[t][q] for q in lab],
            [judged[t][q] for q in sorted(judged[t]) if q not in people[t]],
        )
        assert ranking.estimates[t] == expected
    best = ranking.order[0]
    assert ranking.estimates[best].mean >= ranking.estimates[ranking.order[1]].mean
    assert stats.best_trial(long_scores(judged), "m", labels) == best


def test_every_item_labelled_is_the_labels_alone() -> None:
    judged = {"A": {f"q{k}": 0.9 for k in range(12)}}
    people = {"A": {f"q{k}": float(k % 2) for k in range(12)}}
    ranking = stats.ppi_ranking(long_scores(judged), long_scores(people), "m")
    estimate = ranking.estimates["A"]
    assert estimate.n_unlabelled == 0 and estimate.lam == 0.0
    assert estimate.mean == pytest.approx((6 + 2) / 16)  # the labels, Agresti-Coull pseudo-labels


def test_pairs_labelled_in_both_and_the_holm_family() -> None:
    rng = np.random.default_rng(3)
    judged = {t: {f"q{k}": float(rng.uniform()) for k in range(40)} for t in "ABC"}
    people = {
        "A": {f"q{k}": 1.0 for k in range(12)},
        "B": {f"q{k}": 0.0 for k in range(12)},
        "C": {f"q{k}": float(k % 2) for k in range(20, 32)},  # no question labelled in both
    }
    ranking = stats.ppi_ranking(long_scores(judged), long_scores(people), "m")
    assert ranking.order[0] == "A"
    verdicts = {r["trial_id"]: r["verdict"] for r in ranking.rows}
    assert verdicts == {"A": "best", "B": None, "C": "too_few"}  # B tested; C: no pairs
    assert ranking.pairs == {"B": 12, "C": 0}
    scores = pd.concat([long_scores(judged), long_scores(judged, "other")])
    ranked = stats.rank_all(scores, ["m", "other"], corrected={"m": ranking})
    judge_only = stats.rank_all(scores, ["m", "other"])
    other = judge_only["other"][judge_only["other"].verdict.isin(["tied", "worse"])]
    assert len(other) == 2  # two judge-only comparisons beside the corrected one
    b = next(r for r in ranking.rows if r["trial_id"] == "B")
    holm = stats.holm([b["p_value"], *other.p_value])  # one family of three
    m = ranked["m"].set_index("trial_id")
    assert m.at["B", "p_adjusted"] == pytest.approx(holm[0])
    assert ranked["other"][ranked["other"].verdict.isin(["tied", "worse"])].p_adjusted.tolist() == (
        pytest.approx(list(holm[1:]))
    )
    assert m.verdict.to_dict() == {"A": "best", "C": "too_few", "B": "worse"}
    assert m.n.tolist() == [12, 12, 12]


def test_shortfalls_are_said_in_words() -> None:
    judged = {t: {f"q{k}": 0.8 for k in range(20)} for t in "AB"}
    nothing = pd.DataFrame(columns=["trial_id", "question_id", "metric", "value"])
    assert stats.ppi_ranking(long_scores(judged), nothing, "m").shortfall == "no labels"
    few = long_scores({"A": {f"q{k}": 1.0 for k in range(12)}, "B": {"q1": 1.0}})
    found = stats.ppi_ranking(long_scores(judged), few, "m")
    assert found.shortfall == (
        "13 label(s), fewer than 10 on 1 of 2 judged trial(s) (fewest: 1 on 'B'); at least 10 "
        "per judged trial are needed"
    )
    assert stats.ppi_ranking(long_scores({}), few, "m").shortfall == "no judged scores"
    # labels on items the judge did not score (failed) do not count
    failed = long_scores({"A": {f"q{k}": math.nan for k in range(12)}, "B": judged["B"]})
    assert stats.ppi_ranking(failed, few, "m").labels_per_trial == {"B": 1}
    assert stats.ppi_rank.MIN_SHARED == stats.MIN_N


def test_trials_judged_on_too_few_questions_need_more_judging_first() -> None:
    small = long_scores({t: {f"q{k}": 0.8 for k in range(3)} for t in "AB"})
    nothing = pd.DataFrame(columns=["trial_id", "question_id", "metric", "value"])
    ranking = stats.ppi_ranking(small, nothing, "m")
    assert ranking.judged_per_trial == {"A": 3, "B": 3}
    uses = {"m": corrected.MetricLabels("m", ranking, None)}
    assert corrected.labels_needed_lines(uses, {}) == [
        "m: 2 trial(s) judged on fewer than 10 questions (as few as 3) cannot get 10 labels "
        "each: judge more questions first (judge_limit, judge_budget), then label"
    ]
