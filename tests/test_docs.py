"""The README is an entrance and docs/ a site that builds: links, anchors, nav and a strict build.

README.md stays short and links into docs/; every relative link in it and in docs/ names a file
that exists and, with ``#anchor``, a heading of that file whose slug is the same on GitHub and in
MkDocs (so the link works in both); every page is in mkdocs.yml's nav and every nav entry is a
page; every ``make TARGET`` the pages mention is a Makefile target; and ``mkdocs build --strict``
passes (skipped only when mkdocs-material is not installed).
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
README_MAX_LINES = 150  # an entrance, not a manual: the reference lives in docs/

FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.M | re.S)
CODE_SPAN = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", re.M)
MAKE = re.compile(r"(?:^|[\s`])make ([a-z][a-z0-9-]*)", re.M)


def pages() -> list[Path]:
    return sorted(DOCS.rglob("*.md"))


def code(path: Path) -> str:
    """The file's code blocks and code spans, where commands are written."""
    text = path.read_text(encoding="utf-8")
    blocks = [m.group(0) for m in FENCE.finditer(text)]
    return "\n".join([*blocks, *CODE_SPAN.findall(FENCE.sub("", text))])


def prose(path: Path) -> str:
    """The file's Markdown without code blocks and code spans (links there are not links)."""
    return CODE_SPAN.sub("", FENCE.sub("", path.read_text(encoding="utf-8")))


def mkdocs_slug(text: str) -> str:
    """Python-Markdown's toc slugify, which MkDocs uses for heading ids."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def github_slug(text: str) -> str:
    """GitHub's heading anchors: lower case, punctuation dropped, each space a hyphen."""
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def heading_text(markdown: str) -> str:
    """What a heading shows: code spans, emphasis and link targets reduced to their text."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", markdown)
    return re.sub(r"[`*_]", "", text)


def anchors(path: Path) -> set[str]:
    """Anchors that work both on GitHub and in the built site."""
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    found = set()
    for raw in HEADING.findall(text):
        shown = heading_text(raw)
        if mkdocs_slug(shown) == github_slug(shown):
            found.add(mkdocs_slug(shown))
    return found


def broken_links(path: Path) -> list[str]:
    problems = []
    for target in LINK.findall(prose(path)):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.exists():
            problems.append(f"{target}: no such file")
        elif anchor and (dest.suffix != ".md" or anchor not in anchors(dest)):
            problems.append(f"{target}: no heading with anchor #{anchor} (on GitHub and MkDocs)")
    return problems


def nav_pages(nav: object) -> list[str]:
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, list):
        return [page for item in nav for page in nav_pages(item)]
    if isinstance(nav, dict):
        return [page for value in nav.values() for page in nav_pages(value)]
    return []


def test_slugs_agree_on_plain_headings_and_differ_on_runs_of_hyphens() -> None:
    assert mkdocs_slug("llama.cpp state cache") == github_slug("llama.cpp state cache")
    assert mkdocs_slug("Judge throughput, before and after") == "judge-throughput-before-and-after"
    assert mkdocs_slug("before -> after") != github_slug("before -> after")


def test_the_link_checker_finds_broken_links(tmp_path: Path) -> None:
    (tmp_path / "b.md").write_text("# Real heading\n")
    page = tmp_path / "a.md"
    page.write_text(
        "[ok](b.md#real-heading) [gone](c.md) [bad](b.md#nope) `[code](c.md)` "
        "[web](https://example.org)\n```\n[fenced](c.md)\n```\n"
    )
    assert broken_links(page) == [
        "c.md: no such file",
        "b.md#nope: no heading with anchor #nope (on GitHub and MkDocs)",
    ]


def test_readme_is_an_entrance() -> None:
    lines = len(README.read_text(encoding="utf-8").splitlines())
    assert lines < README_MAX_LINES, f"README.md has {lines} lines: move reference text to docs/"
    linked = {Path(t.partition("#")[0]) for t in LINK.findall(prose(README))}
    assert Path("docs/index.md") in linked, "README.md does not link to the docs"


@pytest.mark.parametrize("path", [README, *pages()], ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(path: Path) -> None:
    assert broken_links(path) == []


def test_every_page_is_in_the_nav_and_every_nav_entry_is_a_page() -> None:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    assert config["docs_dir"] == "docs"
    listed = nav_pages(config["nav"])
    present = [p.relative_to(DOCS).as_posix() for p in pages()]
    assert sorted(set(present) - set(listed)) == [], "pages missing from mkdocs.yml's nav"
    assert sorted(set(listed) - set(present)) == [], "nav entries with no page"
    assert len(listed) == len(set(listed)), "a page is listed twice in the nav"


def test_make_targets_named_in_the_pages_exist() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([a-z][a-z0-9-]*):", makefile, re.M))
    declared = re.search(r"^\.PHONY:(.*)$", makefile, re.M)
    assert declared, "the Makefile has no .PHONY line"
    named = {t for p in [README, *pages()] for t in MAKE.findall(code(p))}
    assert {"demo", "test", "docs"} <= named
    assert named - targets == set(), "pages name make targets the Makefile does not have"
    assert named <= set(declared.group(1).split()), "a target the pages name is not .PHONY"


@pytest.mark.skipif(
    importlib.util.find_spec("material") is None or importlib.util.find_spec("mkdocs") is None,
    reason="mkdocs-material is not installed (pip install -e '.[dev]')",
)
def test_the_site_builds_strictly(tmp_path: Path) -> None:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}  # mkdocs-material's end-of-life notice
    site = tmp_path / "site"
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    for page in pages():
        built = page.relative_to(DOCS).with_suffix("")
        html = site / ("index.html" if built.name == "index" else built / "index.html")
        assert html.is_file(), f"{page.name} was not built"
