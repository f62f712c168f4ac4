"""What a folder holds, as the corpus readers see it: the account ``ragbench init`` prints.

Contract: :class:`Inventory` (files and sizes, documents read, files or records skipped with
their reason, PDF lines left out per kind, characters of text) and ``Inventory.lines()``: formats
with counts and sizes, the largest files, what the PDF reader left out, what was skipped and why.
``size_text(bytes)`` writes sizes for people. Built by ``data.scaffold.inventory``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

# The PDF reader's kinds of dropped lines (data.pdf_layout.KINDS) as init prints them.
DROPPED = {
    "headers_footers": "running headers/footers",
    "page_numbers": "page numbers",
    "tables": "table rows",
    "authors": "author block",
    "acknowledgements": "acknowledgements",
    "references": "references",
}
SHOWN = 10  # skipped files listed by name
LARGEST = 3


def size_text(n: float) -> str:
    """Bytes for people: ``512 B``, ``12.0 kB``, ``4.2 MB``, ``1.1 GB``."""
    for unit in ("B", "kB", "MB"):
        if n < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


@dataclass
class Inventory:
    """What a folder holds, as the corpus readers see it."""

    folder: Path
    files: dict[str, int]  # relative path -> bytes of each file the walk reads (data.walk)
    documents: int
    skipped: list[tuple[str, str]]  # (file or record, reason)
    dropped: dict[str, int] = field(default_factory=dict)  # PDF lines left out, per kind
    chars: int = 0  # of the documents' text

    def formats(self) -> dict[str, tuple[int, int, int]]:
        """extension -> (files, bytes, files skipped), most files first."""
        ext = {rel: Path(rel).suffix.lower().lstrip(".") or "(none)" for rel in self.files}
        skipped = {where.split("#")[0] for where, _ in self.skipped}
        out: dict[str, tuple[int, int, int]] = {}
        for rel, size in self.files.items():
            files, total, bad = out.get(ext[rel], (0, 0, 0))
            out[ext[rel]] = (files + 1, total + size, bad + (rel in skipped))
        return dict(sorted(out.items(), key=lambda kv: (-kv[1][0], kv[0])))

    def lines(self) -> list[str]:
        total = size_text(sum(self.files.values()))
        lines = [
            f"{self.folder}: {len(self.files)} files, {total}; {self.documents} documents read, "
            f"{len(self.skipped)} skipped"
        ]
        formats = [
            f"{e} {n} file{'s' * (n != 1)} {size_text(b)}" + (f" ({bad} skipped)" if bad else "")
            for e, (n, b, bad) in self.formats().items()
        ]
        lines.append("  formats: " + "; ".join(formats))
        largest = sorted(self.files.items(), key=lambda kv: (-kv[1], kv[0]))[:LARGEST]
        lines.append("  largest: " + ", ".join(f"{p} {size_text(b)}" for p, b in largest))
        if any(self.dropped.values()):
            kinds = ", ".join(f"{DROPPED.get(k, k)} {n}" for k, n in self.dropped.items() if n)
            lines.append(f"  PDF lines left out (not text people read): {kinds}")
        for where, reason in self.skipped[:SHOWN]:
            lines.append(f"  skipped {where}: {reason}")
        if len(self.skipped) > SHOWN:
            lines.append(f"  (and {len(self.skipped) - SHOWN} more skipped)")
        return lines
