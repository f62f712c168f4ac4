"""Config validation messages, sweep expansion, trial-id stability and the `validate` CLI."""

from __future__ import annotations

import copy
import textwrap
import typing
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ragbench.cli import app
from ragbench.config.experiment import ConfigError, expand, load_config, parse_config

REPO_ROOT = Path(__file__).resolve().parents[1]


def write_yaml(tmp_path: Path, text: str, name: str = "exp.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def config_error(data: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as exc:
        parse_config(data, source="exp.yaml")
    return str(exc.value)


# --- validation messages -------------------------------------------------------------------------


def test_unknown_top_level_key_suggests_closest() -> None:
    msg = config_error({"name": "x", "bse": {}})
    assert msg.startswith("exp.yaml:")
    assert "bse" in msg and "unknown key" in msg
    assert "did you mean 'base'" in msg


def test_unknown_nested_key_names_full_path_and_suggests() -> None:
    msg = config_error({"name": "x", "base": {"chunking": {"chunk_sizee": 128}}})
    assert "base.chunking.chunk_sizee" in msg
    assert "did you mean 'chunk_size'" in msg


def test_unknown_nested_key_in_llm_config_suggests() -> None:
    msg = config_error({"name": "x", "base": {"generation": {"llm": {"temprature": 0.1}}}})
    assert "base.generation.llm.temprature" in msg
    assert "did you mean 'temperature'" in msg


def test_unknown_chunker_suggests_sentence() -> None:
    msg = config_error({"name": "x", "base": {"chunking": {"method": "sentense"}}})
    assert "base.chunking.method" in msg
    assert "unknown chunker 'sentense'" in msg
    assert "did you mean 'sentence'" in msg
    assert "token" in msg  # valid names are listed


def test_unknown_retriever_names_key_and_valid_choices() -> None:
    msg = config_error({"name": "x", "base": {"retrieval": {"method": "vector"}}})
    assert "base.retrieval.method" in msg
    assert "unknown retriever 'vector'" in msg
    for valid in ("dense", "bm25", "hybrid"):
        assert valid in msg


def test_unknown_retriever_typo_gets_suggestion() -> None:
    msg = config_error({"name": "x", "base": {"retrieval": {"method": "hybird"}}})
    assert "did you mean 'hybrid'" in msg


def test_wrong_type_names_key() -> None:
    msg = config_error({"name": "x", "base": {"retrieval": {"top_k": "many"}}})
    assert "base.retrieval.top_k" in msg
    assert "integer" in msg


def test_top_k_above_100_rejected() -> None:
    msg = config_error({"name": "x", "base": {"retrieval": {"top_k": 101}}})
    assert "base.retrieval.top_k" in msg
    assert "100" in msg
    parse_config({"name": "x", "base": {"retrieval": {"top_k": 100}}})  # the bound itself is fine


@pytest.mark.parametrize("overlap", [128, 200])
def test_chunk_overlap_not_smaller_than_chunk_size(overlap: int) -> None:
    msg = config_error(
        {"name": "x", "base": {"chunking": {"chunk_size": 128, "chunk_overlap": overlap}}}
    )
    assert "base.chunking" in msg
    assert f"chunk_overlap ({overlap}) must be smaller than chunk_size (128)" in msg


def test_broken_yaml_reports_file_and_line(tmp_path: Path) -> None:
    path = write_yaml(
        tmp_path,
        """\
        name: broken
        base:
          chunking: {method: sentence
          retrieval: {top_k: 3}
        """,
    )
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    msg = str(exc.value)
    assert str(path) in msg
    assert "invalid YAML" in msg
    assert "line 4" in msg


def test_tab_indented_yaml_reports_line(tmp_path: Path) -> None:
    path = write_yaml(tmp_path, "name: x\nbase:\n\tchunking: {}\n")
    with pytest.raises(ConfigError, match=r"line 3"):
        load_config(path)


def test_missing_experiment_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as exc:
        load_config(missing)
    assert "experiment file not found" in str(exc.value)
    assert str(missing) in str(exc.value)


def test_missing_dataset_path_resolved_against_file(tmp_path: Path) -> None:
    path = write_yaml(
        tmp_path,
        """\
        name: x
        dataset: {loader: qa-folder, path: no-such-folder}
        """,
    )
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    msg = str(exc.value)
    assert str(path) in msg
    assert "dataset.path" in msg
    assert str(tmp_path / "no-such-folder") in msg


def test_existing_relative_dataset_path_is_made_absolute(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    path = write_yaml(tmp_path, "name: x\ndataset: {loader: qa-folder, path: data}\n")
    assert load_config(path).dataset.path == str((tmp_path / "data").resolve())


def test_non_mapping_yaml_rejected(tmp_path: Path) -> None:
    path = write_yaml(tmp_path, "- just\n- a list\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(path)


def test_sweep_key_that_does_not_exist_suggests() -> None:
    msg = config_error({"name": "x", "sweep": {"chunking.chunk_sizee": [128]}})
    assert "sweep key 'chunking.chunk_sizee'" in msg
    assert "did you mean 'chunk_size'" in msg


def test_sweep_key_unknown_section_suggests() -> None:
    msg = config_error({"name": "x", "sweep": {"retreival.top_k": [2]}})
    assert "'retreival' is not a field of base" in msg
    assert "did you mean 'retrieval'" in msg


def test_empty_sweep_list_rejected() -> None:
    msg = config_error({"name": "x", "sweep": {"retrieval.top_k": []}})
    assert "sweep 'retrieval.top_k' has no values" in msg


def test_unknown_metric_suggests() -> None:
    msg = config_error({"name": "x", "metrics": ["hit_rate", "faithfullness"]})
    assert "metrics" in msg
    assert "unknown metric 'faithfullness'" in msg
    assert "did you mean 'faithfulness'" in msg


def test_empty_metric_list_rejected() -> None:
    assert "at least one metric" in config_error({"name": "x", "metrics": []})


def test_prompt_template_without_placeholders_rejected() -> None:
    msg = config_error({"name": "x", "base": {"generation": {"prompt": "Answer: {question}"}}})
    assert "base.generation.prompt" in msg
    assert "{context}" in msg and "{question}" in msg


def test_literal_prompt_template_with_placeholders_accepted() -> None:
    template = "Context:\n{context}\nQ: {question}\nA:"
    config = parse_config({"name": "x", "base": {"generation": {"prompt": template}}})
    assert config.base.generation.prompt == template


def test_invalid_sweep_value_reported_with_key() -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config({"name": "x", "sweep": {"retrieval.top_k": [2, 500]}})
    assert "retrieval.top_k" in str(exc.value)
    assert "500" in str(exc.value)


def test_load_config_rejects_invalid_sweep_value_naming_file(tmp_path: Path) -> None:
    path = write_yaml(tmp_path, "name: x\nsweep:\n  retrieval.top_k: [2, 500]\n")
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert str(path) in str(exc.value)
    assert "retrieval.top_k" in str(exc.value)


# --- sweep expansion and trial ids ---------------------------------------------------------------


def test_sweep_is_cartesian_product_in_axis_order() -> None:
    config = parse_config(
        {"name": "x", "sweep": {"chunking.chunk_size": [128, 256], "retrieval.top_k": [2, 3, 4]}}
    )
    trials = expand(config)
    assert len(trials) == 6
    points = [(t.pipeline.chunking.chunk_size, t.pipeline.retrieval.top_k) for t in trials]
    assert points == [(128, 2), (128, 3), (128, 4), (256, 2), (256, 3), (256, 4)]
    assert [t.label for t in trials][:2] == ["chunk_size=128, top_k=2", "chunk_size=128, top_k=3"]
    assert trials[0].overrides == {"chunking.chunk_size": 128, "retrieval.top_k": 2}
    assert len({t.trial_id for t in trials}) == 6


def test_no_sweep_gives_one_base_trial() -> None:
    trials = expand(parse_config({"name": "x"}))
    assert len(trials) == 1
    assert trials[0].label == "base"
    assert trials[0].overrides == {}


def test_fake_config_fixture_expands_to_four_trials(fake_config: Any) -> None:
    trials = expand(fake_config)
    assert [t.label for t in trials] == [
        "chunk_size=128, top_k=2",
        "chunk_size=128, top_k=3",
        "chunk_size=256, top_k=2",
        "chunk_size=256, top_k=3",
    ]
    assert all(t.pipeline.judge.provider == "fake" for t in trials)


def test_trial_ids_stable_across_loads(tmp_path: Path) -> None:
    path = write_yaml(
        tmp_path,
        """\
        name: x
        sweep:
          chunking.chunk_size: [128, 256]
          retrieval.top_k: [2, 3]
        """,
    )
    first = [t.trial_id for t in expand(load_config(path))]
    second = [t.trial_id for t in expand(load_config(path))]
    assert first == second
    assert all(len(i) == 12 for i in first)


def test_trial_ids_independent_of_dict_key_order(fake_config_data: dict[str, Any]) -> None:
    data = copy.deepcopy(fake_config_data)
    data["base"]["chunking"] = {"method": "sentence", "chunk_size": 256, "chunk_overlap": 32}
    reordered = {k: data[k] for k in reversed(list(data))}
    reordered["base"] = {k: data["base"][k] for k in reversed(list(data["base"]))}
    reordered["base"]["chunking"] = {"chunk_overlap": 32, "chunk_size": 256, "method": "sentence"}
    reordered["sweep"] = {k: data["sweep"][k] for k in reversed(list(data["sweep"]))}
    a = expand(parse_config(data))
    b = expand(parse_config(reordered))
    assert {t.trial_id for t in a} == {t.trial_id for t in b}
    # the axis order only changes iteration order and label wording
    assert b[0].label == "top_k=2, chunk_size=128"
    assert b[1].trial_id == a[2].trial_id


@pytest.mark.parametrize(
    "change",
    [
        {"chunking": {"chunk_overlap": 16}},
        {"chunking": {"method": "token"}},
        {"embedding": {"provider": "hashing", "batch_size": 8}},
        {"retrieval": {"method": "bm25"}},
        {"retrieval": {"hybrid_weights": [0.7, 0.3]}},
        {"generation": {"llm": {"provider": "fake", "temperature": 0.5}}},
        {"generation": {"llm": {"provider": "fake"}, "prompt": "concise"}},
        {"judge": {"provider": "fake", "max_tokens": 100}},
    ],
)
def test_trial_id_changes_when_any_param_changes(
    fake_config_data: dict[str, Any], change: dict[str, Any]
) -> None:
    data = copy.deepcopy(fake_config_data)
    data["sweep"] = {}
    before = expand(parse_config(data))[0].trial_id
    for section, values in change.items():
        data["base"][section] = {**data["base"].get(section, {}), **values}
    after = expand(parse_config(data))[0].trial_id
    assert before != after


def test_equal_resolved_params_give_equal_trial_ids(tmp_path: Path) -> None:
    explicit = write_yaml(
        tmp_path,
        """\
        name: explicit-defaults
        description: every default spelled out
        base:
          chunking:
            method: sentence
            chunk_size: 256
            chunk_overlap: 32
          retrieval: {method: dense, top_k: 3, hybrid_weights: [0.5, 0.5]}
          generation:
            prompt: default
            llm: {provider: fake, temperature: 0.0, max_tokens: 256}
          judge: {provider: fake}
        sweep:
          retrieval.top_k: [2]
        """,
        name="a.yaml",
    )
    omitted = write_yaml(
        tmp_path,
        """\
        name: omitted-defaults
        base:
          generation: {llm: {provider: fake}}
          judge: {provider: fake}
          retrieval: {top_k: 2}
        """,
        name="b.yaml",
    )
    a = expand(load_config(explicit))
    b = expand(load_config(omitted))
    assert a[0].label != b[0].label  # one is a sweep point, the other the base
    assert a[0].trial_id == b[0].trial_id


# --- `ragbench validate` -------------------------------------------------------------------------


def test_cli_validate_quickstart() -> None:
    result = CliRunner().invoke(
        app, ["validate", str(REPO_ROOT / "experiments" / "quickstart.yaml")]
    )
    assert result.exit_code == 0, result.output
    assert "quickstart: 4 trial(s)" in result.stdout
    assert "chunk_size=128, top_k=2" in result.stdout


@pytest.mark.shared
def test_cli_validate_pg_essays() -> None:
    if not (REPO_ROOT.parent / "shared" / "datasets" / "pg-essays").is_dir():
        pytest.skip("../shared/datasets/pg-essays not present")
    result = CliRunner().invoke(
        app, ["validate", str(REPO_ROOT / "experiments" / "pg-essays.yaml")]
    )
    assert result.exit_code == 0, result.output
    assert "pg-essays: 4 trial(s)" in result.stdout


@pytest.mark.shared
def test_cli_validate_allocation_sweep() -> None:
    """The fully judged sweep benchmarks/allocation.py replays (docs/judging.md) still validates."""
    if not (REPO_ROOT.parent / "shared" / "datasets" / "pg-essays").is_dir():
        pytest.skip("../shared/datasets/pg-essays not present")
    path = REPO_ROOT / "benchmarks" / "allocation_sweep.yaml"
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert "allocation-sweep: 6 trial(s)" in result.stdout


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: x\nbase:\n  chunking: {chunk_sizee: 128}\n", "did you mean 'chunk_size'"),
        ("name: x\nbase: [unclosed\n", "invalid YAML"),
        ("name: x\nsweep:\n  retrieval.top_k: [2, 500]\n", "retrieval.top_k"),
    ],
)
def test_cli_validate_broken_file_one_line_error(tmp_path: Path, text: str, expected: str) -> None:
    path = write_yaml(tmp_path, text)
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code != 0
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert expected in lines[0]
    assert result.stdout.strip() == ""


def test_cli_validate_missing_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["validate", str(tmp_path / "missing.yaml")])
    assert result.exit_code != 0
    assert result.stderr.startswith("error: experiment file not found")


def test_duplicate_sweep_points_are_rejected() -> None:
    data = {"name": "dup", "sweep": {"retrieval.top_k": [3, 3]}}
    with pytest.raises(ConfigError, match="same trial"):
        parse_config(data)


def test_trial_labels_disambiguate_axes_with_the_same_last_name() -> None:
    from ragbench.config.experiment import trial_label

    assert (
        trial_label({"chunking.chunk_size": 128, "retrieval.top_k": 2}) == "chunk_size=128, top_k=2"
    )
    assert (
        trial_label({"chunking.method": "token", "retrieval.method": "bm25"})
        == "chunking.method=token, retrieval.method=bm25"
    )
    assert trial_label({}) == "base"


# --- duplicate keys ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key", "line", "first"),
    [
        ("name: a\nlimit: 2\nname: b\n", "name", 3, 1),
        (
            "name: x\nbase:\n  retrieval:\n    top_k: 2\n    method: bm25\n    top_k: 5\n",
            "top_k",
            6,
            4,
        ),
        ("name: x\nbase:\n  retrieval: {top_k: 2, top_k: 5}\n", "top_k", 3, 3),
        (
            "name: x\nsweep:\n  retrieval.top_k: [2]\n  retrieval.top_k: [3]\n",
            "retrieval.top_k",
            4,
            3,
        ),
        ("name: x\nbase: {}\nmetrics: [mrr]\nbase: {}\n", "base", 4, 2),
        ("name: x\nsweep:\n  retrieval:\n    - {top_k: 2, top_k: 3}\n", "top_k", 4, 4),
    ],
    ids=["top", "nested", "flow", "sweep", "section", "in-list"],
)
def test_duplicate_keys_rejected_with_line(
    tmp_path: Path, text: str, key: str, line: int, first: int
) -> None:
    path = write_yaml(tmp_path, text)
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    msg = str(exc.value)
    assert str(path) in msg
    assert f"line {line}," in msg
    assert f"duplicate key '{key}' (first given on line {first})" in msg


def test_yaml_merge_keys_may_be_overridden(tmp_path: Path) -> None:
    from ragbench.config.validation import read_yaml

    path = tmp_path / "merge.yaml"
    path.write_text("a: &d {top_k: 2, method: bm25}\nb:\n  <<: *d\n  top_k: 5\n")
    assert read_yaml(path)["b"] == {"top_k": 5, "method": "bm25"}


def test_exponent_without_dot_is_a_number(tmp_path: Path) -> None:
    path = write_yaml(
        tmp_path, "name: x\nbase:\n  generation: {llm: {provider: fake, temperature: 1e-1}}\n"
    )
    assert load_config(path).base.generation.llm.temperature == pytest.approx(0.1)


# --- strict numbers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("yaml_value", "shown"),
    [("true", "true (a boolean)"), ("2.0", "2.0 (a float)"), ('"3"', "'3' (a string)")],
)
def test_top_k_must_be_an_integer(tmp_path: Path, yaml_value: str, shown: str) -> None:
    path = write_yaml(tmp_path, f"name: x\nbase:\n  retrieval:\n    top_k: {yaml_value}\n")
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    msg = str(exc.value)
    assert "base.retrieval.top_k: Input should be a valid integer" in msg
    assert f"got {shown}" in msg


def _numeric_fields(model: Any, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], str]]:
    """(path, 'int'|'float') of every numeric field of a config model, recursively."""
    from pydantic import BaseModel

    from ragbench.config.validation import _model_in

    found = []
    for name, field in model.model_fields.items():
        sub = _model_in(field.annotation)
        if isinstance(sub, type) and issubclass(sub, BaseModel):
            found += _numeric_fields(sub, (*prefix, name))
            continue
        path = (*prefix, name)
        if typing.get_origin(field.annotation) is tuple:  # e.g. hybrid_weights: test the first item
            field_type, path = field.annotation.__args__[0], (*path, "0")
        else:
            field_type = field.annotation
        # int | None, Annotated[int, Strict()]: the plain types inside
        args = getattr(field_type, "__args__", None) or (field_type,)
        plain = {getattr(a, "__origin__", a) for a in args}
        if int in plain:
            found.append((path, "int"))
        elif float in plain:
            found.append((path, "float"))
    return found


def _nest(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    tree: Any = value
    for part in reversed(path):
        tree = [tree, 0.5] if part == "0" else {part: tree}
    return tree


def test_every_numeric_field_is_found() -> None:
    from ragbench.config.experiment import ExperimentConfig

    fields = dict(_numeric_fields(ExperimentConfig))
    assert len(fields) == 37  # the walk reaches every section (update when a field is added)
    assert fields[("split", "test")] == "float" and fields[("split", "seed")] == "int"
    assert fields[("base", "retrieval", "top_k")] == "int"
    assert fields[("base", "generation", "llm", "temperature")] == "float"
    assert fields[("base", "retrieval", "hybrid_weights", "0")] == "float"
    assert fields[("staged", "top_n")] == "int"
    assert fields[("executor", "workers")] == "int"
    assert fields[("judge_budget", "verdicts")] == "int"
    assert fields[("judge_budget", "seconds")] == "float"
    assert fields[("base", "judge", "verdict_threshold")] == "float"


def _numeric_cases() -> list[Any]:
    from ragbench.config.experiment import ExperimentConfig

    cases = []
    for path, kind in _numeric_fields(ExperimentConfig):
        bad = [True, False, "3"] + ([2.5] if kind == "int" else [float("inf"), float("nan")])
        cases += [pytest.param(path, v, id=f"{'.'.join(path)}={v!r}") for v in bad]
    return cases


@pytest.mark.parametrize(("path", "value"), _numeric_cases())
def test_every_numeric_field_refuses_non_numbers(path: tuple[str, ...], value: Any) -> None:
    data: dict[str, Any] = {"name": "x", **_nest(path, value)}
    if path[0] == "staged":
        data["metrics"] = ["mrr"]
    with pytest.raises(ConfigError) as exc:
        parse_config(data)
    loc = ".".join(p for p in path if p != "0")
    assert loc in str(exc.value)


def test_integers_are_floats_and_keep_the_trial_id() -> None:
    as_int = parse_config({"name": "x", "base": {"generation": {"llm": {"temperature": 0}}}})
    as_float = parse_config({"name": "x", "base": {"generation": {"llm": {"temperature": 0.0}}}})
    assert isinstance(as_int.base.generation.llm.temperature, float)
    assert expand(as_int)[0].trial_id == expand(as_float)[0].trial_id


def test_tuple_fields_still_take_yaml_lists(tmp_path: Path) -> None:
    path = write_yaml(tmp_path, "name: x\nbase:\n  retrieval: {hybrid_weights: [1, 0.5]}\n")
    assert load_config(path).base.retrieval.hybrid_weights == (1.0, 0.5)


def test_sweep_values_are_strict_too() -> None:
    msg = config_error({"name": "x", "sweep": {"retrieval.top_k": [2, True]}})
    assert "retrieval.top_k" in msg and "valid integer" in msg and "true (a boolean)" in msg


# --- staged search -------------------------------------------------------------------------------


def test_staged_rank_by_must_be_in_metrics() -> None:
    msg = config_error(
        {"name": "x", "metrics": ["hit_rate", "mrr", "faithfulness"], "staged": {"rank_by": "ndcg"}}
    )
    assert "staged.rank_by 'ndcg' is not in metrics (hit_rate, mrr, faithfulness)" in msg
    assert "rank by one of them (hit_rate, mrr)" in msg


def test_staged_default_rank_by_must_be_in_metrics_too() -> None:
    msg = config_error({"name": "x", "metrics": ["faithfulness"], "staged": {"top_n": 1}})
    assert "staged.rank_by 'mrr' is not in metrics" in msg
    assert "no retrieval metric to rank by" in msg


def test_staged_rank_by_must_be_a_retrieval_metric() -> None:
    msg = config_error(
        {"name": "x", "metrics": ["mrr", "faithfulness"], "staged": {"rank_by": "faithfulness"}}
    )
    assert "staged.rank_by" in msg and "judged only after stage 1" in msg


def test_staged_rank_by_in_metrics_is_accepted() -> None:
    config = parse_config({"name": "x", "metrics": ["ndcg"], "staged": {"rank_by": "ndcg"}})
    assert config.staged is not None and config.staged.rank_by == "ndcg"


def test_unknown_key_in_optional_section_suggests() -> None:
    msg = config_error({"name": "x", "staged": {"rank_byy": "mrr"}})
    assert "staged.rank_byy: unknown key (did you mean 'rank_by'?)" in msg


# --- other crash paths ---------------------------------------------------------------------------


def test_duplicate_metrics_rejected() -> None:
    assert "listed more than once: mrr" in config_error({"name": "x", "metrics": ["mrr", "mrr"]})


def test_judge_cannot_be_swept() -> None:
    msg = config_error({"name": "x", "sweep": {"judge.temperature": [0.0, 0.5]}})
    assert "sweep key 'judge.temperature'" in msg and "cannot be swept" in msg


def test_sweep_explosion_refused_before_expanding() -> None:
    sweep = {
        "retrieval.top_k": list(range(1, 101)),
        "chunking.chunk_size": list(range(100, 111)),
    }
    msg = config_error({"name": "x", "sweep": sweep})
    assert "sweep has 1100 points" in msg and "at most 1000" in msg


def test_max_tokens_must_fit_the_context_window() -> None:
    msg = config_error(
        {"name": "x", "base": {"judge": {"provider": "fake", "context_window": 1024}}}
    )
    assert "base.judge" in msg
    assert "max_tokens (1024) must be smaller than context_window (1024)" in msg


@pytest.mark.parametrize("seed", [-1, 2**32 - 1, 2**40])
def test_llm_seed_must_be_a_fixed_uint32(seed: int) -> None:
    msg = config_error({"name": "x", "base": {"generation": {"llm": {"seed": seed}}}})
    assert "base.generation.llm.seed" in msg


@pytest.mark.parametrize(
    "url",
    ["127.0.0.1:8000/v1", "ftp://u:secret-pw@h/v1", "http:///v1", "http://u:secret-pw@h:99999/v1"],
)
def test_base_url_must_be_http_and_is_never_echoed(url: str) -> None:
    llm = {"provider": "openai", "model": "m", "base_url": url}
    msg = config_error({"name": "x", "base": {"generation": {"llm": llm}}})
    assert "base.generation.llm.base_url" in msg
    assert "secret-pw" not in msg


def test_api_key_env_holding_a_key_is_refused_without_echo() -> None:
    llm = {"provider": "fake", "api_key_env": "sk-proj-abc123-def456"}
    msg = config_error({"name": "x", "base": {"generation": {"llm": llm}}})
    assert "api_key_env must be the NAME of the environment variable" in msg
    assert "abc123" not in msg


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "the file is empty"),
        (b"# only a comment\n", "the file is empty"),
        (b"name: caf\xe9\n", "not a UTF-8 text file"),
        (b"[" * 5000 + b"]" * 5000, "invalid YAML"),
    ],
    ids=["empty", "comment", "latin-1", "deep"],
)
def test_unreadable_experiment_files(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "exp.yaml"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert str(path) in str(exc.value) and expected in str(exc.value)


def test_experiment_path_that_is_a_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="experiment file is a folder"):
        load_config(tmp_path)


def test_experiment_name_length_is_bounded() -> None:
    assert "name" in config_error({"name": "x" * 101})


def test_trial_labels_never_show_url_passwords() -> None:
    llm = {"provider": "openai", "model": "m", "base_url": "http://h:1/v1"}
    config = parse_config(
        {
            "name": "x",
            "base": {"generation": {"llm": llm}},
            "sweep": {"generation.llm.base_url": ["http://h:1/v1", "http://u:pw-secret@h:1/v1"]},
        }
    )
    trials = expand(config)
    assert [t.label for t in trials] == ["base_url=http://h:1/v1", "base_url=http://u:***@h:1/v1"]
    assert trials[1].pipeline.generation.llm.base_url == "http://u:pw-secret@h:1/v1"  # still used


# --- hostile YAML (issue 23, second round) --------------------------------------------------------


def alias_bomb(levels: int) -> str:
    """One sweep value whose nested aliases expand to about 2 x 9^(levels - 1) numbers in 1.5 KB
    (its error message once printed them all: 400 MB after 80 s and 8 GB)."""
    anchors = ["&b0 [2, 4]"] + [
        f"&b{i} [{', '.join([f'*b{i - 1}'] * 9)}]" for i in range(1, levels)
    ]
    return f"name: bomb\nsweep:\n  retrieval.top_k: [[{', '.join(anchors)}]]\n"


def test_yaml_alias_bomb_fails_fast_naming_the_line(tmp_path: Path) -> None:
    import time

    from ragbench.config.validation import MAX_ALIAS_VALUES, read_yaml

    path = write_yaml(tmp_path, alias_bomb(9))
    assert len(path.read_bytes()) < 1600
    start = time.perf_counter()
    with pytest.raises(ConfigError) as exc:
        read_yaml(path)  # parsing alone: the expansion is refused before anything walks it
    assert time.perf_counter() - start < 1
    message = str(exc.value)
    assert message.startswith(f"{path}: line 3, column ")
    assert message.endswith(
        f": the YAML expands aliases to more than {MAX_ALIAS_VALUES:,} values; write the values out"
    )


def test_cli_validate_alias_bomb_is_one_short_line_in_bounded_memory(tmp_path: Path) -> None:
    """Through the CLI in a subprocess capped at 1 GB of address space and 60 s, so that a
    regression fails this test instead of taking the machine's memory."""
    import resource
    import subprocess
    import sys

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1_500_000_000, 1_500_000_000))

    path = write_yaml(tmp_path, alias_bomb(9))
    done = subprocess.run(
        [sys.executable, "-m", "ragbench.cli", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=cap,  # noqa: PLW1509 - no threads here before the fork
    )
    assert done.returncode == 2, done.stderr[-500:]
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"error: {path}: line 3") and "expands aliases" in line


def test_aliases_within_the_limit_still_work(tmp_path: Path) -> None:
    path = write_yaml(
        tmp_path,
        "name: x\nbase: &b\n  retrieval: {top_k: 2}\nsweep:\n  retrieval.top_k: &k [1, 2]\n"
        "  chunking.chunk_size: [128, 256]\n",
    )
    assert len(expand(load_config(path))) == 4


def test_a_recursive_alias_is_one_line(tmp_path: Path) -> None:
    path = write_yaml(tmp_path, "name: x\nsweep:\n  retrieval.top_k: &a [1, *a]\n")
    with pytest.raises(ConfigError, match=r"line 3, column \d+: .*refers to itself"):
        load_config(path)


def test_cli_error_lines_are_bounded(tmp_path: Path) -> None:
    path = write_yaml(tmp_path, f"name: x\nbase:\n  ? {'k' * 5000}\n  : 1\n")
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    (line,) = result.stderr.splitlines()
    assert len(line) < 2100
    assert line.startswith(f"error: {path}: base.kkkk")
    assert line.endswith(" more characters)")


def test_trial_ids_survive_fields_added_later() -> None:
    """Pinned: the smoke experiment's trial ids as ragbench issued them before the judge's
    repair / nli / verdict_threshold fields existed; a field at its default leaves the id alone,
    another value makes another trial."""
    from ragbench.config.experiment import LATER_DEFAULTS, trial_id_of

    trials = expand(load_config(REPO_ROOT / "tests" / "data" / "smoke.yaml"))
    assert [t.trial_id for t in trials] == [
        "7d11aa2271e8",
        "4c66effb0149",
        "68142b5a7bf7",
        "d4755eb3e2cd",
    ]
    pipeline = trials[0].pipeline
    assert set(LATER_DEFAULTS) == {"judge.repair", "judge.nli", "judge.verdict_threshold"}
    changed = pipeline.model_copy(
        update={"judge": pipeline.judge.model_copy(update={"nli": "single"})}
    )
    assert trial_id_of(changed) != trials[0].trial_id
