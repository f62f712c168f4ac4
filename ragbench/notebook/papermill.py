"""Headless notebook runs (``ragbench notebook run``): papermill executes a notebook of notebooks/.

Contract: ``run_notebook(experiment, limit, db, notebook)`` executes the notebook with the
parameters its ``parameters`` cell declares (``notebook_parameters``): of ``experiment`` (the YAML's
absolute path, or the experiment's name where the declared default is a name, as in 02), ``db``
(absolute path) and ``limit`` (when given), with the notebook's
folder as the working directory, and writes the executed copy to
``<db's folder>/<experiment name>/<notebook file name>`` (``results/<experiment>/`` by default),
beside the report and charts the notebook itself writes there. The notebook calls the same
``experiment.run`` as the CLI and CI; this module only drives papermill.

A failing cell raises :class:`NotebookError` whose one-line message names the cell (its execution
count and first line) and the error; the executed copy, with the traceback, is still written.

Secrets: the executed copy is rewritten through ``redact`` (sources, parameters, outputs,
tracebacks, metadata) before this function returns or raises, and the error message is redacted
too, so a key the config names (``api_key_env``) or a URL password never stays in a notebook.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ragbench.config.experiment import ExperimentConfig, load_config
from ragbench.config.redact import redact
from ragbench.config.secrets import secrets_for
from ragbench.config.validation import one_line
from ragbench.store import DEFAULT_DB

NOTEBOOK = "01-run-experiment.ipynb"
REPO_NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"  # a source checkout


class NotebookError(RuntimeError):
    """A notebook failed to run; the message is one line meant for the user."""

    _render_traceback_ = one_line  # a notebook shows the message, not a traceback


def default_notebook() -> Path:
    """``notebooks/01-run-experiment.ipynb`` of the cwd, else of the checkout ragbench runs from."""
    local = Path("notebooks") / NOTEBOOK
    return local if local.is_file() else REPO_NOTEBOOKS / NOTEBOOK


def run_notebook(
    experiment: str | Path,
    limit: int | None = None,
    db: str | Path = DEFAULT_DB,
    notebook: str | Path | None = None,
    kernel_name: str = "python3",
    config: ExperimentConfig | None = None,
) -> Path:
    """Execute a run notebook headlessly for one experiment and return the executed copy's path.

    Args:
        experiment: the experiment YAML (validated here first, so a bad file fails before a kernel
            starts).
        limit: questions per trial (None: the YAML's limit).
        db: the DuckDB results file; the executed copy goes under ``<its folder>/<experiment>/``.
        notebook: the notebook to execute (default: :func:`default_notebook`).
        kernel_name: the Jupyter kernel (python3: the interpreter running this code).
        config: ``experiment`` already loaded (the CLI's), so it is not read twice here.

    Raises:
        ConfigError: the experiment file is missing or invalid.
        NotebookError: the notebook is missing, cannot be executed, or one of its cells raised.
    """
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    experiment = Path(experiment).resolve()
    if config is None:
        config = load_config(experiment)
    secrets = secrets_for(config)
    source = Path(notebook) if notebook else default_notebook()
    if not source.is_file():
        raise NotebookError(f"notebook not found: {source}")
    db = Path(db).resolve()
    out = db.parent / config.name / source.name
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        parameters = notebook_parameters(source, experiment, config, limit, db)
        pm.execute_notebook(
            str(source),
            str(out),
            parameters=parameters,
            cwd=str(source.resolve().parent),
            kernel_name=kernel_name,
            progress_bar=False,
        )
    except PapermillExecutionError as exc:
        first = next((line for line in exc.source.splitlines() if line.strip()), "").strip()
        evalue = " ".join(str(exc.evalue).split())  # one line, whatever the exception said
        message = (
            f"{source.name} failed in cell In [{exc.exec_count}] ({first[:80]}): "
            f"{exc.ename}: {redact(evalue, secrets)[:300]}; executed copy: {out}"
        )
        raise NotebookError(redact(message, secrets)) from None
    except Exception as exc:  # noqa: BLE001 - not JSON, no such kernel, a dead kernel...
        reason = redact(" ".join(str(exc).split()), secrets)[:300]
        raise NotebookError(
            f"{source.name} could not be executed: {type(exc).__name__}: {reason}"
        ) from None
    finally:
        if out.is_file():
            redact_notebook(out, secrets)
    return out


def notebook_parameters(
    source: Path, experiment: Path, config: ExperimentConfig, limit: int | None, db: Path
) -> dict[str, Any]:
    """The values ``run_notebook`` passes: those of ``experiment``, ``db`` and ``limit`` (when
    given) that the notebook's ``parameters`` cell declares. ``experiment`` is the YAML's path
    when the cell's default is a YAML path (or empty), else the experiment's name (02 reads a
    run by name); a notebook's own ``limit`` stays unless one is given."""
    import papermill as pm

    declared = pm.inspect_notebook(str(source))
    values: dict[str, Any] = {"db": str(db)}
    if limit is not None:
        values["limit"] = limit
    if "experiment" in declared:
        default = str(declared["experiment"].get("default") or "").strip("\"' ")
        wants_path = not default or default.endswith((".yaml", ".yml"))
        values["experiment"] = str(experiment) if wants_path else config.name
    return {name: value for name, value in values.items() if name in declared}


def redact_notebook(path: Path, secrets: list[str]) -> bool:
    """Rewrite a notebook file with every secret hidden (see ``redact.redact``).

    Args:
        path: an ``.ipynb`` file, rewritten in place only when something was hidden.
        secrets: the strings to hide, e.g. ``redact.secrets_for(config)``.

    Returns:
        True when the file was rewritten.
    """
    import nbformat

    nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    clean = redact(nb, secrets)
    if clean == nb:
        return False
    nbformat.write(nbformat.from_dict(clean), path)
    return True
