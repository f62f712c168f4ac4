"""``ragbench label``: people's labels of judged items from and to a spreadsheet (the CLI face of
``results.label_csv``; notebook 06 is the clicking one).

Contract: ``label_app`` is a typer group the CLI mounts as ``ragbench label``:
- ``ragbench label export --run RUN --n 40 --out sample.csv [--db DB] [--metric faithfulness]
  [--seed 0]`` writes the seeded sample (the same items as notebook 06) with the question,
  passages, answer and judge verdict, and empty label / labeller / reason columns;
- ``ragbench label import LABELS.csv [--db DB] [--run RUN]`` checks every row and writes the
  labels in one transaction, or ends in one ``error:`` line naming the bad row (exit 2), writing
  nothing.
Exit codes and error lines are ``config.exits``' (as every command's); heavy modules load inside
the commands, so ``ragbench --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ragbench.config.exits import fail, say
from ragbench.store import DEFAULT_DB

label_app = typer.Typer(
    no_args_is_help=True,
    help="Human labels of judged items: export a sample to label, import the labels (CSV).",
)
DbOption = Annotated[Path, typer.Option("--db", help="DuckDB results file")]


@label_app.command("export")
def export(
    out: Annotated[Path, typer.Option("--out", help="CSV file to write")],
    run_id: Annotated[
        str | None, typer.Option("--run", help="run id (default: the file's latest run)")
    ] = None,
    n: Annotated[int, typer.Option("--n", min=1, help="items in the sample (at least 1)")] = 40,
    metric: Annotated[str, typer.Option(help="judged metric to label")] = "faithfulness",
    seed: Annotated[int, typer.Option(min=0, help="seed of the sample (notebook 06's: 0)")] = 0,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Write a run's seeded sample of judged items as a CSV to label in a spreadsheet."""
    from ragbench.results.label_csv import export_sample
    from ragbench.results.labels import LabelError
    from ragbench.store import StoreError

    try:
        result = export_sample(db, out, run_id=run_id, metric=metric, n=n, seed=seed)
    except (LabelError, StoreError, LookupError) as exc:
        fail(str(exc.args[0]) if exc.args else str(exc))
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror or exc}")
    say(result.line())


@label_app.command("import")
def import_(
    labels: Annotated[
        Path,
        typer.Argument(
            help="CSV with columns trial, question_id, metric, label, labeller, reason",
        ),
    ],
    run_id: Annotated[
        str | None,
        typer.Option("--run", help="run id (default: the CSV's run_id column, else the latest)"),
    ] = None,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Check a CSV of labels row by row, then store them all (or none) in the results file."""
    from ragbench.results.label_csv import import_labels
    from ragbench.results.labels import LabelError
    from ragbench.store import StoreError

    try:
        result = import_labels(db, labels, run_id=run_id)
    except (LabelError, StoreError, LookupError) as exc:
        fail(str(exc.args[0]) if exc.args else str(exc))
    say(result.line())
