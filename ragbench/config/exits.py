"""How a command ends for a person: exit 0, or one ``error:`` line with no secret in it.

Contract (the rules ``ragbench/cli.py`` states, in one place):
- Exit codes: 0 success, :data:`EXIT_FAILED` (1) a command that ran and whose answer is "no",
  :data:`EXIT_BAD_INPUT` (2) bad input of any kind (click's own code for usage errors),
  :data:`EXIT_BUG` (3) an unexpected exception, 130 an interrupt.
- ``remember(config)`` records the secrets a command's config names; from then on ``say`` and
  ``fail`` print through ``redact.redact`` with them (URL passwords are always hidden).
  ``fail(message, code)`` prints ``error: <message>`` as one line on stderr and exits; a line is
  cut at :data:`MAX_MESSAGE` characters.
- ``error_line(exc)`` is the one line and exit code of an exception no command handled: ours and
  ``ValueError`` / ``LookupError`` / ``OSError`` are bad input, anything else a bug.
- :class:`OneLineGroup` is the typer app's command group: it runs a command so that it ends in
  exit 0 or one ``error:`` line, never a traceback (click's usage errors included), unless
  ``RAGBENCH_DEBUG=1`` asks for the traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import typer
from typer.core import TyperGroup

from ragbench.config.experiment import ExperimentConfig
from ragbench.config.redact import redact
from ragbench.config.secrets import secrets_for

EXIT_FAILED = 1  # the command ran and its answer is "no"
EXIT_BAD_INPUT = 2  # click's own code for usage errors: one code for every kind of bad input
EXIT_BUG = 3
EXIT_INTERRUPTED = 130
MAX_MESSAGE = 2000  # characters of an error line: a value echoed whole could be megabytes
_secrets: list[str] = []  # secrets of the config the current command loaded (see remember)


def remember(config: ExperimentConfig) -> None:
    """Hide the secrets ``config`` names in everything printed from now on."""
    _secrets[:] = secrets_for(config)


def one_line(text: str) -> str:
    """``text`` on one line, redacted, then cut to :data:`MAX_MESSAGE` characters (after the
    redaction, so no secret is cut in half and half shown)."""
    line = redact(" ".join(str(text).split()), _secrets)
    if len(line) > MAX_MESSAGE:
        line = f"{line[:MAX_MESSAGE]}... ({len(line) - MAX_MESSAGE:,} more characters)"
    return line


def say(text: str, err: bool = False) -> None:
    """Print ``text`` (redacted) on stdout, or stderr with ``err``."""
    typer.echo(redact(text, _secrets), err=err)


def fail(message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    """End the command with ``error: <message>`` on one line and exit code ``code``."""
    typer.echo(f"error: {one_line(message)}", err=True)
    raise typer.Exit(code)


def error_line(exc: BaseException) -> tuple[str, int]:
    """The one line and exit code for an exception no command handled."""
    text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    ours = type(exc).__module__.split(".")[0] == "ragbench"
    if ours or isinstance(exc, ValueError | LookupError | OSError):
        return text or type(exc).__name__, EXIT_BAD_INPUT
    return (
        f"unexpected {type(exc).__name__}: {text} (a bug: please report it; "
        "RAGBENCH_DEBUG=1 shows the traceback)",
        EXIT_BUG,
    )


class OneLineGroup(TyperGroup):
    """Runs every command so that it ends in exit 0 or one ``error: ...`` line, never a
    traceback: click's usage errors (``--limit 0``, an unknown option) included."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        def call() -> Any:
            return super(OneLineGroup, self).main(
                args, prog_name, complete_var, False, windows_expand_args, **extra
            )

        if not standalone_mode:  # embedded in another click program: its rules apply
            return call()
        _secrets.clear()
        try:
            rv = call()
        except typer.TyperException as exc:  # typer's (vendored click's) usage errors
            if type(exc).__name__ == "NoArgsIsHelpError":  # bare `ragbench`: the help text
                exc.show()  # type: ignore[attr-defined]
            else:
                typer.echo(f"error: {one_line(exc.format_message())}", err=True)
            sys.exit(getattr(exc, "exit_code", EXIT_BAD_INPUT))
        except (typer.Abort, KeyboardInterrupt):
            typer.echo("error: interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)
        except Exception as exc:  # noqa: BLE001 - the last line of defence, see the docstring
            if os.environ.get("RAGBENCH_DEBUG"):
                raise
            message, code = error_line(exc)
            typer.echo(f"error: {one_line(message)}", err=True)
            sys.exit(code)
        if rv == EXIT_INTERRUPTED:  # typer turns Ctrl-C into Exit(130) before we see it
            typer.echo("error: interrupted", err=True)
        sys.exit(rv if isinstance(rv, int) else 0)
