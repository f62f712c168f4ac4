"""The core contract's regression tests: cache identity, failures never cached, resume guards,
error rows retried, staged search checked before any work, batched writes."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import DictCache, fake_experiment, write_qa_folder

from ragbench import models
from ragbench.config.experiment import EmbeddingConfig, ExperimentConfig, LLMConfig, parse_config
from ragbench.experiment.orchestrator import run
from ragbench.judge.scoring import Judge, Score
from ragbench.models.identity import folder_sha256
from ragbench.store import Store


@pytest.fixture(autouse=True)
def _private_hash_memo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGBENCH_CACHE_DIR", str(tmp_path / "cache"))


# --- cache keys: model identity by content ----------------------------------------------------------


def test_gguf_identity_is_its_content_not_its_name(tmp_path: Path) -> None:
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF weights v1")
    cfg = LLMConfig(provider="local", model=str(model))
    first = models.llm_id(cfg)
    model.write_bytes(b"GGUF weights v2")  # new weights under the same file name
    assert models.llm_id(cfg) != first
    other = tmp_path / "renamed.gguf"
    other.write_bytes(b"GGUF weights v2")
    assert models.llm_id(LLMConfig(provider="local", model=str(other))) == models.llm_id(cfg)


def test_embedder_folder_identity_changes_with_its_weights(tmp_path: Path) -> None:
    folder = tmp_path / "st-model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"weights v1")
    (folder / "README.md").write_text("docs do not change what the model computes")
    cfg = EmbeddingConfig(provider="sentence-transformers", model=str(folder))
    first = models.embedding_id(cfg)
    (folder / "README.md").write_text("edited docs")
    assert models.embedding_id(cfg) == first
    (folder / "model.safetensors").write_bytes(b"weights v2")
    assert models.embedding_id(cfg) != first
    assert str(folder) not in models.embedding_id(cfg)  # named by content, not by path


def test_endpoint_identity_holds_no_credentials() -> None:
    cfg = LLMConfig(provider="openai", base_url="http://user:pa55@127.0.0.1:9/v1", model="m")
    assert "pa55" not in models.llm_id(cfg) and "127.0.0.1:9/v1" in models.llm_id(cfg)


def test_folder_without_model_files_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        folder_sha256(tmp_path)


def qa_config(folder: Path) -> Any:
    """A one-trial fake experiment over a qa-folder dataset."""
    return parse_config(
        fake_experiment(
            name="tiny",
            dataset={"loader": "qa-folder", "path": str(folder)},
            metrics=["hit_rate", "mrr", "faithfulness"],
        )
    )


class _FlakyLLM:
    """Fails every call until ``healthy`` is set (an endpoint that comes back)."""

    def __init__(self) -> None:
        self.healthy = False
        self.fake = models.make_llm(LLMConfig(provider="fake"))

    def complete(self, prompt: str, **kwargs: Any) -> Any:
        if not self.healthy:
            raise ConnectionError("endpoint down")
        return self.fake.complete(prompt, **kwargs)


def test_a_failure_is_never_served_from_the_cache() -> None:
    cache = DictCache()
    llm = _FlakyLLM()
    cfg = LLMConfig(provider="fake", max_retries=0)
    judge = Judge(cfg, llm, models.HashingEmbedding(), cache=cache, embed_id="hashing:v1")
    args = ("faithfulness", "Who built it?", "Ada Finch built it.", ["Ada Finch built it."])
    failed = judge.score(*args)
    assert failed.value is None and "endpoint down" in (failed.error or "")
    assert cache.data == {}  # nothing cached
    llm.healthy = True
    ok = judge.score(*args)
    assert ok.error is None and ok.value is not None and not ok.cached
    assert judge.score(*args).cached  # successes are cached


def test_judge_key_covers_every_setting_and_the_embedding() -> None:
    base = LLMConfig(provider="fake")
    inputs = {"user_input": "q", "response": "r"}

    def key(cfg: LLMConfig, embed_id: str = "e1") -> str:
        return Judge(cfg, None, None, embed_id=embed_id).cache_key("answer_relevancy", inputs)

    keys = {
        key(base),
        key(base.model_copy(update={"temperature": 0.5})),
        key(base.model_copy(update={"seed": 1})),
        key(base.model_copy(update={"max_tokens": 99})),
        key(base.model_copy(update={"context_window": 8192})),
        key(base, embed_id="e2"),
    }
    assert len(keys) == 6
    assert key(base.model_copy(update={"max_retries": 5})) == key(base)  # retries change no verdict


def test_old_cached_failures_are_ignored() -> None:
    cache = DictCache()
    cfg = LLMConfig(provider="fake")
    llm = models.make_llm(cfg)
    judge = Judge(cfg, llm, models.HashingEmbedding(), cache=cache, embed_id="hashing:v1")
    inputs = {"user_input": "q", "response": "r. s.", "retrieved_contexts": ["r. s."]}
    cache.cache_put(
        "judge",
        judge.cache_key("faithfulness", inputs),
        {"value": None, "error": "old failure", "details": {}},
    )
    score: Score = judge.score("faithfulness", "q", "r. s.", ["r. s."])
    assert score.error is None and not score.cached


# --- resume guards ----------------------------------------------------------------------------------


def test_resume_refuses_an_edited_config_naming_the_keys(
    fake_config: ExperimentConfig, fake_config_data: dict[str, Any], tmp_db: Path
) -> None:
    first = run(fake_config, db=tmp_db, progress=False)
    edited = copy.deepcopy(fake_config_data)
    edited["base"]["retrieval"] = {"top_k": 5}
    edited["metrics"] = [*edited["metrics"], "ndcg"]
    with pytest.raises(ValueError, match="config changed") as info:
        run(parse_config(edited), db=tmp_db, resume=first.run_id, progress=False)
    assert "metrics" in str(info.value) and "base.retrieval.top_k" in str(info.value)


def test_resume_refuses_changed_questions(tmp_path: Path) -> None:
    folder = write_qa_folder(tmp_path / "data")
    config = qa_config(folder)
    first = run(config, db=tmp_path / "r.duckdb", progress=False)
    questions = folder / "questions.jsonl"
    rows = [json.loads(line) for line in questions.read_text().splitlines()]
    rows[0]["gold_doc_ids"] = ["ferry.txt"]  # a corrected gold id
    questions.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(ValueError, match="questions changed"):
        run(config, db=tmp_path / "r.duckdb", resume=first.run_id, progress=False)


def test_resume_retries_rows_that_ended_in_an_error(
    fake_config: ExperimentConfig, tmp_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = fake_config
    real_score = Judge.score

    def down(self: Judge, metric: str, *args: Any, **kwargs: Any) -> Score:
        return Score(None, "APIConnectionError: endpoint down")

    monkeypatch.setattr(Judge, "score", down)
    first = run(config, db=tmp_db, progress=False)
    assert not first.ok and "every judged score failed" in first.problems[0]
    store = Store(tmp_db)
    failed = store.scores(first.run_id)
    assert failed.error.notna().sum() == 16  # 4 trials x 2 judged questions x 2 metrics

    monkeypatch.setattr(Judge, "score", real_score)  # the endpoint came back
    again = run(config, db=tmp_db, resume=first.run_id, progress=False)
    assert again.ok and again.stats.judged == 16
    scores = store.scores(first.run_id)
    assert scores.error.isna().all() and len(scores) == len(failed)  # replaced, not added


def test_staged_rank_by_without_gold_documents_is_an_error_before_any_work(
    tmp_path: Path,
) -> None:
    questions = [{"question_id": "a", "user_input": "Who built the lighthouse?", "reference": "x"}]
    folder = write_qa_folder(tmp_path / "data", questions=questions)
    data = qa_config(folder).model_dump(mode="json")
    data["sweep"] = {"retrieval.top_k": [1, 2, 3]}
    data["staged"] = {"rank_by": "mrr", "top_n": 1}
    with pytest.raises(ValueError, match="staged.rank_by 'mrr' needs questions with gold_doc_ids"):
        run(parse_config(data), db=tmp_path / "r.duckdb", progress=False)
    assert not (tmp_path / "r.duckdb").exists()  # refused before the results file was touched


def test_writes_are_batched(fake_config_data: dict[str, Any], tmp_db: Path) -> None:
    data = copy.deepcopy(fake_config_data)
    data["metrics"] = ["hit_rate", "mrr"]
    result = run(parse_config(data), db=tmp_db, progress=False)
    records = len(Store(tmp_db).latencies(result.run_id))
    assert records == 24
    assert result.stats.transactions < records / 4  # not one transaction per question


def test_resume_of_an_unknown_run_creates_no_file(
    fake_config: ExperimentConfig, tmp_path: Path
) -> None:
    from ragbench.store import StoreError

    db = tmp_path / "none.duckdb"
    with pytest.raises(StoreError, match="not found"):
        run(fake_config, db=db, resume="nope", progress=False)
    assert not db.exists()
    run(fake_config, db=db, progress=False)
    with pytest.raises(ValueError, match="no run nope"):
        run(fake_config, db=db, resume="nope", progress=False)


def test_a_run_that_scored_nothing_is_not_ok(tmp_path: Path) -> None:
    questions = [{"question_id": "a", "user_input": "Who built the lighthouse?", "reference": "x"}]
    folder = write_qa_folder(tmp_path / "data", questions=questions)
    data = qa_config(folder).model_dump(mode="json")
    data["metrics"] = ["hit_rate", "mrr"]  # no gold documents, no judged metric
    result = run(parse_config(data), db=tmp_path / "r.duckdb", progress=False)
    assert not result.ok and "nothing could be scored" in result.problems[0]
    assert Store(tmp_path / "r.duckdb").run_info(result.run_id).stats.problems == result.problems


def test_unreadable_files_are_printed_at_load_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    docs = {
        "lighthouse.md": "# Lighthouse\nThe Corran lighthouse was built in 1871 by Ada Finch.\n",
        "ferry.txt": "The ferry to Ostby leaves every morning at 7:15 from pier 4.\n",
        "broken.pdf": b"%PDF-1.4 not really a pdf",
    }
    folder = write_qa_folder(tmp_path / "data", docs=docs)
    result = run(qa_config(folder), db=tmp_path / "r.duckdb", progress=True)
    out = capsys.readouterr().out
    assert "skipped 1 unreadable input(s):" in out and "broken.pdf" in out
    assert [f for f, _ in result.stats.skipped_files] == ["broken.pdf"]
