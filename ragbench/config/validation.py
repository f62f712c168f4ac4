"""Validation helpers for experiment configs: strict YAML, name checks, one-line messages.

Contract:
- ``read_yaml(path)`` parses an experiment file with :class:`ConfigLoader` or raises
  :class:`ConfigError` naming the file and, for YAML problems, the line and column: a key given
  twice in one mapping (at any depth) names both lines; a folder, an empty file, a non-UTF-8 file,
  an unreadable file and nesting too deep for the parser are each one clear message. Aliases may
  add at most ``MAX_ALIAS_VALUES`` values to the document (counted as they are read, before
  anything walks the values): nested aliases make a 1.5 KB file stand for billions of values
  (an "alias bomb"), which would take minutes and gigabytes to validate or even to print. An
  alias inside the very node it names (a recursive structure) is refused too.
- ``Int`` and ``Real`` are the strict number types of every config field: a YAML boolean, a string
  and (for ``Int``) a float are type errors; ``Real`` takes an integer but refuses inf and nan.
- ``check_name`` / ``check_url`` / ``check_env_name`` raise ``ValueError`` for a field validator;
  the last two never repeat the value they reject (it may be a password or a key).
- ``format_errors`` turns a pydantic ``ValidationError`` into the one line a ``ConfigError`` shows.
- ``one_line`` is how every error meant for people (``ConfigError``, ``DataError``,
  ``StoreError``, ``ReviewError``, ...) shows in a notebook: such a class sets
  ``_render_traceback_ = one_line``, and IPython, which asks an exception for
  ``_render_traceback_`` before it formats a traceback, shows ``error: <message>`` (the line the
  CLI prints) instead of ~35 lines of frames. The exception is still raised: the cell fails,
  papermill stops, ``except`` works. Other exceptions, bugs among them, keep their traceback.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import yaml
from pydantic import AllowInfNan, BaseModel, StrictFloat, StrictInt, ValidationError


def one_line(self: BaseException) -> list[str]:
    """IPython's traceback lines for an error meant for people: ``error: <message>``, one line
    (the label in red, as Jupyter colours a traceback)."""
    message = " ".join(str(self).split()) or type(self).__name__
    return [f"\x1b[0;31merror:\x1b[0m {message}"]


class ConfigError(ValueError):
    """A bad experiment file; the message is meant to be shown to the user as is."""

    _render_traceback_ = one_line  # a notebook shows the message, not a traceback


# Strict numbers: YAML `true` is not 1, `2.5` is not 2 and `"3"` is not 3. An int is a float.
Int = StrictInt
Real = Annotated[StrictFloat, AllowInfNan(False)]  # .inf / .nan would pass any bound check
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
# Values aliases may add to an experiment file. Real files repeat a block or a list now and then
# (tens of values); nested aliases can stand for billions in a few lines.
MAX_ALIAS_VALUES = 10_000


def suggest(name: str, valid: list[str] | tuple[str, ...]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest valid name, or an empty string."""
    close = difflib.get_close_matches(name, list(valid), n=1, cutoff=0.5)
    return f" (did you mean '{close[0]}'?)" if close else ""


def check_name(kind: str, name: str, valid: tuple[str, ...]) -> str:
    """Validate a component name against its table, suggesting the closest valid one."""
    if name not in valid:
        raise ValueError(
            f"unknown {kind} '{name}'{suggest(name, valid)}; valid: {', '.join(valid)}"
        )
    return name


def check_url(url: str | None) -> str | None:
    """Accept an http(s) URL with a host; the message never repeats the URL (it may hold a
    password)."""
    if url is None:
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError as exc:
        raise ValueError(f"base_url is not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            "base_url must be an http(s) URL with a host, e.g. http://127.0.0.1:8000/v1"
        )
    return url


def check_env_name(name: str) -> str:
    """An environment variable name; the message never repeats the value (it may be the key)."""
    if not re.fullmatch(ENV_NAME, name):
        raise ValueError(
            "api_key_env must be the NAME of the environment variable that holds the key "
            "(e.g. OPENAI_API_KEY), never the key itself"
        )
    return name


def format_errors(exc: ValidationError, root: type[BaseModel]) -> str:
    """One line for a pydantic error: ``loc: message`` per error, ``; ``-joined.

    Unknown keys get the closest field name of the model at their location (``root`` is the
    model validated); type errors show the wrong scalar as written (``got true (a boolean)``).
    """
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            parent = err["loc"][:-1]
            valid = _fields_at(parent, root)
            parts.append(f"{loc}: unknown key{suggest(str(err['loc'][-1]), valid)}")
            continue
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"].endswith("_type") and isinstance(err.get("input"), bool | int | float | str):
            msg += f", got {_shown(err['input'])}"
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


def _shown(value: bool | int | float | str) -> str:
    """A scalar as the YAML author wrote it: ``true``, ``2.5``, ``'3'`` (a string)."""
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, str):
        return f"{value[:40]!r} (a string)"
    return f"{value!r} (a {'float' if isinstance(value, float) else 'integer'})"


def _fields_at(loc: tuple[Any, ...], root: type[BaseModel]) -> list[str]:
    """Field names of the model found at a validation-error location (for suggestions)."""
    model: Any = root
    for part in loc:
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return []
        model = _model_in(field.annotation)
    return list(getattr(model, "model_fields", {}))


def _model_in(annotation: Any) -> Any:
    """The pydantic model inside ``X | None`` (or the annotation itself)."""
    for arg in getattr(annotation, "__args__", ()):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return annotation


class AliasError(yaml.composer.ComposerError):
    """Aliases that expand too far, or into themselves; ``read_yaml`` shows the problem as is."""


class ConfigLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that rejects a key given twice in one mapping, at any depth (plain
    PyYAML keeps the last one silently), reads ``1e-3`` as a float as YAML 1.2 does and bounds
    alias expansion (see the module contract)."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._alias_values = 0  # values the aliases read so far stand for
        self._sizes: dict[int, int] = {}  # id(node) -> values it expands to
        self._open: set[str] = set()  # anchors whose node is still being read

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            if event.anchor in self._open:
                raise AliasError(
                    None, None, f"the alias *{event.anchor} refers to itself", event.start_mark
                )
            node = super().compose_node(parent, index)
            self._alias_values += self._size(node)
            if self._alias_values > MAX_ALIAS_VALUES:
                raise AliasError(
                    None,
                    None,
                    f"the YAML expands aliases to more than {MAX_ALIAS_VALUES:,} values; "
                    "write the values out",
                    event.start_mark,
                )
            return node
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            self._open.add(anchor)
        try:
            return super().compose_node(parent, index)
        finally:
            self._open.discard(anchor)

    def _size(self, node: yaml.Node) -> int:
        """How many values (scalars, lists, mappings) ``node`` stands for with aliases expanded."""
        size = self._sizes.get(id(node))
        if size is None:
            if isinstance(node, yaml.SequenceNode):
                size = 1 + sum(self._size(item) for item in node.value)
            elif isinstance(node, yaml.MappingNode):
                size = 1 + sum(self._size(k) + self._size(v) for k, v in node.value)
            else:
                size = 1
            self._sizes[id(node)] = size
        return size

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *defaults` then overriding a merged key is YAML's design
            key = self.construct_object(key_node, deep=True)
            try:
                earlier = first.get(key)
            except TypeError:
                continue  # an unhashable key: SafeLoader reports it below
            if earlier is not None:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key '{key}' (first given on line {earlier.start_mark.line + 1})",
                    key_node.start_mark,
                )
            first[key] = key_node
        return super().construct_mapping(node, deep=deep)


ConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


def read_yaml(path: Path) -> Any:
    """The parsed content of an experiment file (see the module contract for the errors).

    Raises:
        ConfigError: a folder, missing, unreadable, not UTF-8, empty or invalid YAML.
    """
    if path.is_dir():
        raise ConfigError(f"experiment file is a folder: {path}")
    if not path.is_file():
        raise ConfigError(f"experiment file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a UTF-8 text file (byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        data = yaml.load(text, Loader=ConfigLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        kind = "" if isinstance(exc, AliasError) else "invalid YAML: "
        raise ConfigError(f"{path}:{where}: {kind}{problem}") from None
    except RecursionError:
        raise ConfigError(f"{path}: invalid YAML: nested too deeply") from None
    if data is None:
        raise ConfigError(f"{path}: the file is empty")
    return data
