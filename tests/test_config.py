"""Config validation messages, sweep expansion, trial-id stability and the `validate` CLI."""

from __future__ import annotations

import copy
import textwrap
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ragbench.cli import app
from ragbench.config import ConfigError, expand, load_config, parse_config

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
    data = {"name": "dup", "sweep": {"retrieval.top_k": [3, "3"]}}
    with pytest.raises(ConfigError, match="same trial"):
        parse_config(data)


def test_trial_labels_disambiguate_axes_with_the_same_last_name() -> None:
    from ragbench.config import trial_label

    assert trial_label({"chunking.chunk_size": 128, "retrieval.top_k": 2}) == "chunk_size=128, top_k=2"
    assert (
        trial_label({"chunking.method": "token", "retrieval.method": "bm25"})
        == "chunking.method=token, retrieval.method=bm25"
    )
    assert trial_label({}) == "base"
