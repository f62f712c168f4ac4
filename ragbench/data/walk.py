"""Which files of a corpus folder are documents: links, unreadable folders and ragbench's own files.

Contract: ``corpus_entries(root, follow_symlinks=False, exclude=None) -> list[Entry]`` walks
``root`` once and returns every entry a corpus load must account for, in path order (the order of
``pathlib`` paths): files to read (``reason`` None) and entries left out with the reason shown to
the user (``reason`` set). Nothing under ``root`` vanishes silently except hidden files and folders
(``.git``, ``.ipynb_checkpoints``) and the root's ``_permissions.json``:

- a folder that cannot be listed is one entry ``"<folder>/"`` with the reason (``permission
  denied``), so its files are counted as skipped, never forgotten;
- a symbolic link is not followed by default: a link to a file or folder outside ``root`` is left
  out as ``symlink to a file outside the corpus folder: <target>`` (the target is named, never
  read), and a link to something inside ``root`` is left out because that file is read under its
  own name (unless hidden): nothing is read twice. With ``follow_symlinks`` a link to something outside ``root`` is
  followed (links inside ``root`` still are not); each outside file and folder is read once
  however many links reach it, and a link back into a folder being walked is not followed (no
  loop). Broken links, and entries that are neither files nor folders (a FIFO would block a read
  forever), are left out with their reason;
- ragbench's own files are never documents: every ``.duckdb`` / ``.duckdb.wal`` file, and each
  file or folder of ``exclude`` (path -> reason), e.g. the experiment's question file, its YAML,
  the results file and its report folder (:func:`run_files`).

``inside(path, folder)`` is the one rule for "this file is part of that corpus folder" (resolved
paths), which ``synth`` (refusing ``--out`` inside the corpus) and ``init`` (placing the question
file it names) share.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

PERMISSIONS_FILE = "_permissions.json"  # at a corpus root: doc_id or glob -> allowed groups
DUCKDB_SUFFIXES = (".duckdb", ".duckdb.wal")
OPT_IN = "dataset.follow_symlinks: true, or --follow-symlinks, reads it"


@dataclass(frozen=True)
class Entry:
    """One file of a corpus folder (``rel`` with forward slashes; a folder's ends in ``/``)."""

    rel: str
    path: Path
    reason: str | None = None  # None: read it; else why it is left out


def inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` is ``folder`` or lies under it, links and ``..`` resolved."""
    return Path(path).expanduser().resolve().is_relative_to(Path(folder).expanduser().resolve())


def run_files(db: Path, experiment: str) -> dict[Path, str]:
    """A run's own files: its results file (and write-ahead log) and its report folder."""
    db = Path(db)
    return {
        db: "the results file of this run, not a document",
        db.with_name(db.name + ".wal"): "the results file of this run, not a document",
        db.parent / experiment: "the report folder of this experiment, not documents",
    }


def _shown(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix() if path != root else "."


def corpus_entries(
    root: Path, follow_symlinks: bool = False, exclude: Mapping[Path, str] | None = None
) -> list[Entry]:
    """Every entry under ``root`` a corpus load reads or reports; see the module docstring.

    Raises:
        PermissionError / OSError: ``root`` itself cannot be listed.
    """
    top = root.resolve()
    left_out = {
        real: why
        for real, why in ((Path(p).expanduser().resolve(), w) for p, w in (exclude or {}).items())
        if real != top and real.is_relative_to(top)  # an own file elsewhere leaves nothing out
    }
    entries: list[Entry] = []
    outside: dict[Path, str] = {}  # every file and folder read from outside -> its entry's name
    walking: set[Path] = set()  # real folders on the current path (a link back is a loop)

    def walk(folder: Path, real: Path, parts: tuple[str, ...]) -> None:
        try:
            with os.scandir(folder) as listing:
                children = sorted(listing, key=lambda e: e.name)
        except OSError as exc:
            if not parts:
                raise
            why = "permission denied" if isinstance(exc, PermissionError) else exc.strerror
            entries.append(Entry("/".join(parts) + "/", folder, f"cannot read folder: {why}"))
            return
        walking.add(real)
        for child in children:
            if child.name.startswith(".") or (not parts and child.name == PERMISSIONS_FILE):
                continue
            visit(child, (*parts, child.name))
        walking.discard(real)

    def visit(child: os.DirEntry[str], parts: tuple[str, ...]) -> None:
        rel, path = "/".join(parts), Path(child.path)
        try:
            target = path.resolve(strict=True)
            is_dir = target.is_dir()
        except (OSError, RuntimeError):  # a broken link, a link loop, a vanished file
            entries.append(Entry(rel, path, "broken symlink" if child.is_symlink() else "vanished"))
            return
        kind = "folder" if is_dir else "file"
        shown = rel + "/" if is_dir else rel
        if child.is_symlink():
            if target.is_relative_to(top):
                where = _shown(target, top) + ("/" if is_dir else "")
                why = (
                    f"symlink to {where} in the corpus folder: not followed (nothing is read twice)"
                )
                entries.append(Entry(shown, path, why))
                return
            if not follow_symlinks:
                why = f"symlink to a {kind} outside the corpus folder: {target} ({OPT_IN})"
                entries.append(Entry(shown, path, why))
                return
            if target in walking:
                entries.append(Entry(shown, path, f"symlink loop: back to {target}"))
                return
        if target in outside:  # reached again through another link
            entries.append(Entry(shown, path, f"the same {kind} as {outside[target]}, read there"))
            return
        if not target.is_relative_to(top):
            outside[target] = shown
        own = next((w for p, w in left_out.items() if target.is_relative_to(p)), None)
        if own is None and not is_dir and child.name.lower().endswith(DUCKDB_SUFFIXES):
            own = "a DuckDB file (results or vectors), not a document"
        if own is None and not is_dir and not target.is_file():
            own = "not a regular file"
        if own is not None:
            entries.append(Entry(shown, path, own))
        elif is_dir:
            walk(path, target, parts)
        else:
            entries.append(Entry(rel, path))

    walk(root, top, ())
    return sorted(entries, key=lambda e: Path(e.rel).parts)
