"""Figure plumbing shared by the charts: sizes for notebooks, fitted titles, one-time layout,
collision-free point labels and PNG files.

Contract: ``new_figure`` makes a pyplot-free Figure (Agg canvas, constrained layout) at most
``MAX_WIDTH_IN`` inches wide at ``DISPLAY_DPI``, so JupyterLab shows it at 100% without shrinking
it; ``settle`` runs its layout once and freezes it; ``place_labels`` annotates points without
overlaps; ``save`` writes a PNG. No text is smaller than ``MIN_FONT_PT``.

Text from a run (trial labels, swept values: a prompt template with ``{context}``, newlines, ``$``
or ``_``) is drawn as plain text: ``plain`` puts it on one line, cut to ``LABEL_MAX`` characters,
with a character the font has no glyph for shown as ``?`` (no "Glyph missing" warning);
``wrap`` and ``escape`` escape every ``$``, so matplotlib never reads ``$...$`` as mathtext (an
unknown ``\foo`` there raised, italics changed the text). ``shown_labels`` does both for a chart's
trial labels and keeps labels that the cut made equal apart.
"""

from __future__ import annotations

import functools
import hashlib
import textwrap
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox

DISPLAY_DPI = 100  # JupyterLab shows a PNG at its pixel size up to the cell width (~900-1000 px)
MAX_WIDTH_IN = 9.0  # 900 px at DISPLAY_DPI: not scaled down in a normal notebook window
MIN_FONT_PT = 10  # 10 pt = 13.9 px at DISPLAY_DPI: readable without zooming
FILE_DPI = 110  # PNGs under results/ for CI artefacts and report.md
LABEL_CHARS = 28  # trial labels are wrapped at this width on y axes
LABEL_MAX = 120  # characters of a label drawn (about 5 wrapped lines); tables show it whole


def new_figure(width: float, height: float) -> Figure:
    """An empty figure sized for a notebook (see the module docstring)."""
    fig = Figure(figsize=(min(width, MAX_WIDTH_IN), height), dpi=DISPLAY_DPI, layout="constrained")
    FigureCanvasAgg(fig)  # a renderer for measuring text and for savefig, without pyplot
    return fig


def wrap(text: str, chars: int) -> str:
    """``text`` wrapped at ``chars`` characters per line, every ``$`` escaped (see ``escape``)."""
    return escape("\n".join(textwrap.fill(line, chars) or line for line in str(text).split("\n")))


def escape(text: str) -> str:
    """``text`` with every ``$`` escaped: drawn as a dollar sign, never as mathtext."""
    return text.replace("$", r"\$")


@functools.cache
def _font() -> Any:
    from matplotlib.font_manager import FontProperties, findfont, get_font

    return get_font(findfont(FontProperties()))  # the font text is drawn in by default


def _drawable(char: str) -> bool:
    return char.isprintable() and (char.isascii() or _font().get_char_index(ord(char)) != 0)


def plain(text: str, chars: int = LABEL_MAX) -> str:
    """``text`` as one line of drawable characters, at most ``chars`` long (see the module
    docstring); ``$`` is left to ``wrap`` / ``escape``."""
    line = "".join(c if _drawable(c) else "?" for c in " ".join(str(text).split()))
    return line if len(line) <= chars else line[: chars - 1] + "\u2026"


def shown_labels(labels: Iterable[str], chars: int = LABEL_CHARS) -> dict[str, str]:
    """Each label as drawn: ``plain``, wrapped at ``chars`` and escaped; labels the cut made equal
    get a short hash of the whole label, so no two trials look the same."""
    cut = {label: plain(label) for label in dict.fromkeys(labels)}
    twins = Counter(cut.values())
    for label, text in cut.items():
        if twins[text] > 1:
            cut[label] = f"{text} #{hashlib.sha256(label.encode()).hexdigest()[:6]}"
    return {label: wrap(text, chars) for label, text in cut.items()}


def settle(fig: Figure) -> Figure:
    """Run the constrained layout once and freeze it: every later draw (a PNG file, the notebook's
    image) skips the layout passes, which cost more than the drawing itself."""
    engine = fig.get_layout_engine()
    if engine is not None and engine.__class__.__name__ == "ConstrainedLayoutEngine":
        engine.execute(fig)
        fig.set_layout_engine("none")
    return fig


def fit_title(fig: Figure, text: str, size: float = 12) -> None:
    """A figure title wrapped to the figure's width."""
    chars = max(30, int(fig.get_figwidth() * 72 / (size * 0.6)))
    fig.suptitle(wrap(text, chars), fontsize=size)


def save(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` as a PNG at ``FILE_DPI`` and return the path."""
    path = Path(path)
    fig.savefig(path, dpi=FILE_DPI)
    return path


# Where a point's label may go, in order of preference: (offset in points, ha, va).
_LABEL_SPOTS = [
    ((7, 5), "left", "bottom"),
    ((7, -5), "left", "top"),
    ((0, 10), "center", "bottom"),
    ((0, -10), "center", "top"),
    ((-7, 5), "right", "bottom"),
    ((-7, -5), "right", "top"),
    ((7, 19), "left", "bottom"),
    ((7, -19), "left", "top"),
    ((-7, 19), "right", "bottom"),
    ((-7, -19), "right", "top"),
    ((7, 33), "left", "bottom"),
    ((7, -33), "left", "top"),
]


def place_labels(ax: Any, xs: list[float], ys: list[float], labels: list[str]) -> None:
    """Annotate points without labels overlapping each other, the markers, the legend or the edge.

    Greedy: each label takes the first spot around its point that collides with nothing placed so
    far; when every spot collides it takes the first spot that stays inside the axes.
    """
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    pixels = [ax.transData.transform((x, y)) for x, y in zip(xs, ys, strict=True)]
    obstacles = [Bbox.from_bounds(px - 6, py - 6, 12, 12) for px, py in pixels]
    if ax.get_legend() is not None:
        obstacles.append(ax.get_legend().get_window_extent(renderer))

    def place(k: int, offset: tuple[int, int], ha: str, va: str) -> Any:
        text = ax.annotate(
            labels[k],
            (xs[k], ys[k]),
            textcoords="offset points",
            xytext=offset,
            ha=ha,
            va=va,
            fontsize=MIN_FONT_PT,
        )
        text.set_in_layout(False)
        return text

    for k in sorted(range(len(labels)), key=lambda i: (-ys[i], xs[i])):
        fallback = None
        for offset, ha, va in _LABEL_SPOTS:
            text = place(k, offset, ha, va)
            box = text.get_window_extent(renderer).padded(2)
            inside = frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0
            inside = inside and box.y1 <= frame.y1
            if inside and not any(box.overlaps(o) for o in obstacles):
                obstacles.append(box)
                break
            fallback = fallback or (inside and (offset, ha, va))
            text.remove()
        else:
            spot = fallback or _LABEL_SPOTS[0]
            obstacles.append(place(k, *spot).get_window_extent(renderer).padded(2))
