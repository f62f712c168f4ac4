"""Build the demo corpus PDF: Harbourlight "Annual Report 2024" (2 pages).

The text is fictional and was written for ragbench. It lives in the constant
``REPORT_PAGES`` so that evaluation spans can be checked against it. Every line is
short enough to fit the page width, so fpdf2 never wraps a line on its own and
text extractors (pypdf) return each line intact.

Run ``python ragbench/demo/make_pdf.py`` to (re)write
``ragbench/demo/corpus/annual-report-2024.pdf``.
"""

from __future__ import annotations

import pathlib

TITLE = "Harbourlight Cooperative Library Network"
SUBTITLE = "Annual Report 2024"

# Each page is a list of (style, text) pairs. Styles: "h" heading, "p" body line, "" blank.
REPORT_PAGES: list[list[tuple[str, str]]] = [
    [
        ("h", "Foreword from the Director"),
        ("p", "2024 was a year of steady recovery and quiet change for Harbourlight."),
        ("p", "More people visited our six libraries than in any year since 2019, and for"),
        ("p", "the first time e-book loans passed ninety thousand. None of this would have"),
        ("p", "happened without our staff, our volunteers and the members who own the"),
        ("p", "network. Thank you all. - Dr Ines Calloway, Director"),
        ("", ""),
        ("h", "The year in numbers"),
        ("p", "Physical items borrowed: 412,650"),
        ("p", "E-book and e-audiobook loans: 96,300"),
        ("p", "Visits to our libraries: 389,200"),
        ("p", "New members who joined during the year: 2,874"),
        ("p", "Public computer sessions: 51,400"),
        ("p", "Events held: 1,140, with a total attendance of 21,700"),
        ("p", "Tidewater Lab machine bookings: 2,960"),
        ("p", "Hours given by volunteers: 11,850"),
        ("", ""),
        ("h", "Summer Reading Challenge"),
        ("p", "1,212 children took part in the Summer Reading Challenge and 784 of them"),
        ("p", "completed it by reading six books, the highest completion rate we have recorded."),
        ("", ""),
        ("h", "Our busiest library"),
        ("p", "The Central Library remained the busiest branch, with 41% of all physical loans."),
        ("p", "Pennick Bridge Library recorded the fastest growth in visits, up 12% on 2023."),
    ],
    [
        ("h", "Highlights of 2024"),
        ("p", "Anchor Row Library reopened on 3 June 2024 after a five-week refurbishment that"),
        ("p", "added new heating, LED lighting and an accessible toilet."),
        ("", ""),
        ("p", "The Library of Things opened on 7 October 2024 at the Central Library and"),
        ("p", "Pennick Bridge Library, with 120 items to borrow, from tents and pressure"),
        ("p", "washers to a portable projector and a sewing machine."),
        ("", ""),
        ("p", "In November the network won the Coastal Community Library of the Year award"),
        ("p", "from the Association of Seaside Libraries, for its work after the 2023 flood."),
        ("", ""),
        ("p", "212 shareholders attended the Members' Assembly on 12 October 2024, which"),
        ("p", "elected two new trustees and approved the consultation for the next plan."),
        ("", ""),
        ("h", "Finances in brief"),
        ("p", "Total income for 2024-25 was budgeted at 2.36 million pounds, 87% of it from"),
        ("p", "the Veldmere Town Council core grant. The full accounts are published"),
        ("p", "separately and can be read at any library desk."),
        ("", ""),
        ("h", "Looking ahead"),
        ("p", "In 2025 we will publish our new strategic plan, Open Shores, start planning"),
        ("p", "the Doorstep Books home delivery service, and begin replacing our diesel vans."),
        ("", ""),
        ("p", "Harbourlight Cooperative Library Network, 12 Lantern Street, Veldmere."),
    ],
]


def report_text() -> str:
    """The report's text, one line per PDF line (what an extractor should return)."""
    lines = [TITLE, SUBTITLE]
    for page in REPORT_PAGES:
        lines.extend(text for style, text in page if text)
    return "\n".join(lines)


def build_pdf(path: pathlib.Path) -> None:
    """Render the 2-page annual report to ``path`` with fpdf2 (core font Helvetica)."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=False)
    pdf.set_margins(20, 20, 20)
    pdf.set_title(f"{TITLE} - {SUBTITLE}")
    pdf.set_author(TITLE)
    for number, page in enumerate(REPORT_PAGES):
        pdf.add_page()
        if number == 0:
            pdf.set_font("Helvetica", "B", 18)
            pdf.cell(0, 10, TITLE, new_x="LMARGIN", new_y="NEXT")
            pdf.set_font("Helvetica", "", 14)
            pdf.cell(0, 9, SUBTITLE, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(6)
        for style, text in page:
            if style == "h":
                pdf.set_font("Helvetica", "B", 13)
                pdf.cell(0, 9, text, new_x="LMARGIN", new_y="NEXT")
            elif style == "p":
                pdf.set_font("Helvetica", "", 11)
                pdf.cell(0, 6, text, new_x="LMARGIN", new_y="NEXT")
            else:
                pdf.ln(4)
        pdf.set_y(-15)
        pdf.set_font("Helvetica", "I", 9)
        pdf.cell(0, 6, f"{SUBTITLE} - page {number + 1} of {len(REPORT_PAGES)}", align="C")
    path.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(path))


if __name__ == "__main__":
    out = pathlib.Path(__file__).resolve().parent / "corpus" / "annual-report-2024.pdf"
    build_pdf(out)
    print(f"wrote {out}")
