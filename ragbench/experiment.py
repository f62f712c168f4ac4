"""``run``: the only orchestrator. The CLI, the notebooks and CI all call it.

Order of work (cheap before expensive, and nothing CPU-heavy beside the LLM):
1. Load the dataset, expand the sweep, record the run and its trials with provenance.
2. Stage A, for every trial: build (or reuse) the index, retrieve for every question, score the
   retrieval metrics. All embedding happens here, before the LLM starts.
3. Stage B, for every trial: for the first ``judge_limit`` questions, generate a cited answer
   (generation cache keyed by LLM id + prompt hash + sampling params) and score the judged metrics
   (judge cache, see evaluate.py).
Each (trial, question) is committed as soon as it is done; ``resume=RUN_ID`` skips what is committed.
"""

from __future__ import annotations

import importlib.metadata
import json
import random
import subprocess
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from ragbench import models
from ragbench.config import (
    JUDGED_METRICS,
    ExperimentConfig,
    LLMConfig,
    Trial,
    expand,
    load_config,
    params_hash,
)
from ragbench.data import Dataset, load_dataset
from ragbench.evaluate import Judge, judge_details, retrieval_scores
from ragbench.pipeline import Builder, Pipeline, doc_id_of
from ragbench.store import Store

DEFAULT_DB = Path("results") / "ragbench.duckdb"
PACKAGES = (
    "ragbench",
    "llama-index-core",
    "ragas",
    "duckdb",
    "torch",
    "llama-cpp-python",
    "sentence-transformers",
    "datasets",
)


@dataclass
class RunResult:
    run_id: str
    db: Path
    experiment: str
    trials: list[Trial]
    stats: dict[str, Any]


def git_sha() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).parent,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def package_versions() -> dict[str, str | None]:
    """Installed versions of the packages whose behaviour shapes a score."""
    info: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            info[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            info[name] = None
    return info


def versions(trials: list[Trial]) -> dict[str, Any]:
    """Package versions and model identities: what a reader needs to trust or repeat a run."""
    info: dict[str, Any] = dict(package_versions())
    llms = {models.llm_id(c) for t in trials for c in (t.pipeline.generation.llm, t.pipeline.judge)}
    info["llms"] = sorted(llms)
    info["embeddings"] = sorted({models.embedding_id(t.pipeline.embedding) for t in trials})
    if any(i.startswith(f"local:{models.QWEN_NAME}") for i in llms):
        info["local_llm_sha256"] = models.QWEN_SHA256
    return info


def judged_subset(question_ids: list[str], limit: int | None, seed: int) -> list[str]:
    """The questions that get answers and LLM-judged metrics: a seeded sample, the same for every
    trial (so trials are compared on the same questions), in dataset order."""
    if limit is None or limit >= len(question_ids):
        return list(question_ids)
    shuffled = list(question_ids)
    random.Random(seed).shuffle(shuffled)  # a prefix of one shuffle: larger limits nest smaller
    chosen = set(shuffled[:limit])
    return [q for q in question_ids if q in chosen]


def _judge_config(trials: list[Trial]) -> LLMConfig:
    """One judge per run, so every trial is scored by the same ruler."""
    judges = {params_hash(t.pipeline.judge.model_dump()) for t in trials}
    if len(judges) > 1:
        raise ValueError("the judge must be the same for every trial; do not sweep 'judge.*'")
    return trials[0].pipeline.judge


class _Runner:
    def __init__(
        self, config: ExperimentConfig, dataset: Dataset, store: Store, run_id: str, progress: bool
    ) -> None:
        self.config = config
        self.dataset = dataset
        self.store = store
        self.run_id = run_id
        self.progress = progress
        self.builder = Builder(dataset, cache=store)
        self.done = store.done_questions(run_id)
        self.stats: dict[str, Any] = {
            "generated": 0,
            "generation_cache_hits": 0,
            "judged": 0,
            "judge_cache_hits": 0,
            "judge_failures": 0,
        }
        self.judged_ids = judged_subset(
            [q.question_id for q in dataset.questions], config.judge_limit, config.seed
        )
        self.judged_metrics = [m for m in config.metrics if m in JUDGED_METRICS]

    def bar(self, total: int, desc: str) -> Any:
        return tqdm(total=total, desc=desc, disable=not self.progress, unit="q", leave=True)

    # stage A -------------------------------------------------------------------------------------
    def retrieve_all(self, trials: list[Trial]) -> None:
        todo = [
            (t, q)
            for t in trials
            for q in self.dataset.questions
            if (t.trial_id, q.question_id) not in self.done
        ]
        with self.bar(len(todo), "retrieval") as bar:
            for trial in trials:
                pipeline: Pipeline | None = None
                for q in self.dataset.questions:
                    if (trial.trial_id, q.question_id) in self.done:
                        continue
                    if pipeline is None:
                        bar.set_postfix_str(f"trial {trial.label}")
                        pipeline = self.builder.build(trial.pipeline)
                    start = time.perf_counter()
                    chunks = pipeline.retrieve(q.user_input, getattr(q, "user_groups", None))
                    seconds = time.perf_counter() - start
                    doc_ids = [doc_id_of(c) for c in chunks]
                    record = {
                        "run_id": self.run_id,
                        "trial_id": trial.trial_id,
                        "question_id": q.question_id,
                        "user_input": q.user_input,
                        "retrieved_contexts": [c.node.get_content() for c in chunks],
                        "retrieved_doc_ids": doc_ids,
                        "reference": q.reference,
                        "retrieval_s": seconds,
                        "latency_s": seconds,
                    }
                    scores = [
                        self._row(trial, q.question_id, name, value)
                        for name, value in retrieval_scores(
                            doc_ids,
                            q.gold_doc_ids,
                            self.config.metrics,
                            contexts=record["retrieved_contexts"],
                            gold_spans=q.gold_spans,
                        ).items()
                    ]
                    self.store.add_result(record, scores)
                    bar.update()

    # stage B -------------------------------------------------------------------------------------
    def select_stage2(self, trials: list[Trial]) -> list[Trial]:
        """Staged search: keep the best ``top_n`` trials by a retrieval metric, plus pinned ones.

        The decision and its reason are stored on each trial row, so the report can say which
        trials were pruned and why. Without ``staged`` every trial goes on.
        """
        staged = self.config.staged
        if staged is None or len(trials) <= staged.top_n:
            return trials
        means = self.store.query(
            "SELECT trial_id, avg(value) AS mean FROM scores WHERE run_id = ? AND metric = ? "
            "GROUP BY trial_id",
            [self.run_id, staged.rank_by],
        )
        mean = dict(zip(means.trial_id, means["mean"], strict=True))
        # Ties keep sweep order, so the choice is deterministic.
        ranked = sorted(trials, key=lambda t: -(mean.get(t.trial_id) or 0.0))
        keep_ids = {t.trial_id for t in ranked[: staged.top_n]}
        pinned = {t.trial_id for t in trials if t.label in staged.pin or t.trial_id in staged.pin}
        decisions = {}
        for rank, t in enumerate(ranked, start=1):
            value = mean.get(t.trial_id)
            where = f"{staged.rank_by} {value:.3f}, rank {rank} of {len(trials)}"
            if t.trial_id in keep_ids:
                decisions[t.trial_id] = (2, f"kept: {where} (top {staged.top_n})")
            elif t.trial_id in pinned:
                decisions[t.trial_id] = (2, f"kept: pinned ({where})")
            else:
                decisions[t.trial_id] = (1, f"pruned: {where}; top {staged.top_n} go on")
        self.store.set_stage(self.run_id, decisions)
        return [t for t in trials if decisions[t.trial_id][0] == 2]

    def answer_and_judge(self, trials: list[Trial]) -> None:
        if not self.judged_ids or not self.judged_metrics:
            return
        trials = self.select_stage2(trials)
        judge_cfg = _judge_config(trials)
        judge = Judge(
            judge_cfg,
            self.builder.llm(judge_cfg),
            self._judge_embedding(judge_cfg),
            cache=self.store,
        )
        placeholders = ",".join("?" for _ in self.judged_ids)
        records = self.store.query(
            f"SELECT * FROM records WHERE run_id = ? AND question_id IN ({placeholders})",
            [self.run_id, *self.judged_ids],
        )
        scored = self.store.query(
            "SELECT trial_id, question_id, count(*) AS n FROM scores WHERE run_id = ? "
            f"AND metric IN ({','.join('?' for _ in self.judged_metrics)}) GROUP BY ALL",
            [self.run_id, *self.judged_metrics],
        )
        complete = {
            (r.trial_id, r.question_id)
            for r in scored.itertuples()
            if r.n == len(self.judged_metrics)
        }
        by_key = {(r["trial_id"], r["question_id"]): r for r in records.to_dict("records")}
        todo = [
            (t, qid)
            for t in trials
            for qid in self.judged_ids
            if (t.trial_id, qid) not in complete and (t.trial_id, qid) in by_key
        ]
        with self.bar(len(todo), "answer+judge") as bar:
            for trial, qid in todo:
                bar.set_postfix_str(f"trial {trial.label}, {qid}")
                self._answer_one(trial, by_key[(trial.trial_id, qid)], judge)
                bar.update()
        self.stats["judge_calls"] = judge.calls

    def _answer_one(self, trial: Trial, record: dict[str, Any], judge: Judge) -> None:
        pipeline = self.builder.build(trial.pipeline)
        contexts = list(record["retrieved_contexts"])
        doc_ids = list(record["retrieved_doc_ids"])
        prompt = pipeline.prompt_for(record["user_input"], contexts, doc_ids)
        llm_cfg = trial.pipeline.generation.llm
        key = params_hash(
            {
                "llm": models.llm_id(llm_cfg),
                "prompt": prompt,
                "sampling": {
                    "temperature": llm_cfg.temperature,
                    "seed": llm_cfg.seed,
                    "max_tokens": llm_cfg.max_tokens,
                },
            },
            length=32,
        )
        answer = self.store.cache_get("generation", key)
        if answer is None:
            try:
                out = pipeline.answer(prompt, doc_ids)
            except Exception as exc:  # noqa: BLE001 - a down endpoint is a recorded failure
                reason = f"generation failed: {type(exc).__name__}: {exc}"[:500]
                rows = [
                    self._row(trial, record["question_id"], m, None, error=reason)
                    for m in self.judged_metrics
                ]
                self.store.add_scores(rows)
                self.stats["judge_failures"] += len(rows)
                return
            answer = {
                "response": out.response,
                "cited": out.cited_doc_ids,
                "seconds": out.seconds,
                "usage": out.usage,
            }
            self.store.cache_put("generation", key, answer)
            self.stats["generated"] += 1
        else:
            self.stats["generation_cache_hits"] += 1
        record.update(
            response=answer["response"],
            cited_doc_ids=answer["cited"],
            generation_s=answer["seconds"],
            latency_s=(record["retrieval_s"] or 0.0) + answer["seconds"],
            prompt_tokens=answer["usage"].get("prompt_tokens"),
            completion_tokens=answer["usage"].get("completion_tokens"),
        )
        rows = []
        for metric in self.judged_metrics:
            score = judge.score(
                metric,
                record["user_input"],
                answer["response"],
                contexts,
                reference=record["reference"],
            )
            self.stats["judged"] += 1
            self.stats["judge_cache_hits"] += score.cached
            self.stats["judge_failures"] += score.error is not None
            rows.append(
                self._row(
                    trial,
                    record["question_id"],
                    metric,
                    score.value,
                    error=score.error,
                    seconds=score.seconds,
                    details=judge_details(score),
                )
            )
        self.store.add_result(record, rows)

    def _judge_embedding(self, judge_cfg: LLMConfig) -> Any:
        # Answer relevancy compares questions in one fixed embedding space for every trial, so a
        # sweep over embedding models does not change the ruler. Fakes keep fake runs fast.
        cfg = models.EmbeddingConfig(
            provider="hashing" if judge_cfg.provider == "fake" else "local"
        )
        return self.builder.embedding(cfg)

    def _row(
        self,
        trial: Trial,
        question_id: str,
        metric: str,
        value: float | None,
        error: str | None = None,
        seconds: float | None = None,
        details: str | None = None,
    ) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "trial_id": trial.trial_id,
            "question_id": question_id,
            "metric": metric,
            "value": value,
            "error": error,
            "seconds": seconds,
            "details": details,
        }


def run(
    experiment: ExperimentConfig | str | Path,
    *,
    limit: int | None = None,
    db: str | Path = DEFAULT_DB,
    resume: str | None = None,
    progress: bool = True,
) -> RunResult:
    """Run an experiment end to end and log every per-question score in DuckDB.

    Args:
        experiment: a loaded config or the path of an experiment YAML.
        limit: questions per trial (overrides the YAML's ``limit``).
        db: the DuckDB results file.
        resume: a run id to finish: committed (trial, question) results are skipped.
        progress: show progress bars.

    Returns:
        The run id, the db path, the trials and work statistics (cache hits, judge calls...).
    """
    config = experiment if isinstance(experiment, ExperimentConfig) else load_config(experiment)
    trials = expand(config)
    dataset = load_dataset(config.dataset, limit if limit is not None else config.limit)
    _judge_config(trials)
    store = Store(db)
    run_id = resume or f"{datetime.now():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
    fake = any(
        models.is_fake(t.pipeline.generation.llm, t.pipeline.judge, t.pipeline.embedding)
        for t in trials
    )
    if resume:
        info = store.run_info(resume)
        if info["experiment"] != config.name:
            raise ValueError(f"run {resume} belongs to experiment '{info['experiment']}'")
    store.start_run(
        run_id, config.name, config.model_dump(), versions(trials), git_sha(), fake, dataset.name
    )
    store.add_trials(run_id, trials)
    runner = _Runner(config, dataset, store, run_id, progress)
    start = time.perf_counter()
    try:
        runner.retrieve_all(trials)
        runner.answer_and_judge(trials)
    except BaseException as exc:
        store.finish_run(run_id, "failed", f"{type(exc).__name__}: {exc}"[:500])
        raise
    store.finish_run(run_id, "finished")
    stats = (
        runner.stats
        | runner.builder.stats
        | {"seconds": time.perf_counter() - start, "dataset": dataset.summary()}
    )
    with store.connect() as con:
        con.execute(
            "UPDATE runs SET message = ? WHERE run_id = ?", [json.dumps(stats, default=str), run_id]
        )
    return RunResult(run_id, Path(db), config.name, trials, stats)
