"""Question style measures (ragbench.synth.style) on inputs with a known answer."""

from __future__ import annotations

import pytest

from ragbench.synth.style import TYPES, distance, length, overlap, profile, question_type


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("What key components create a technology hub?", "what"),
        ("In what year was the lighthouse built?", "what"),
        ("Which essay mentions Lisp?", "which"),
        ("Whose idea was the compact?", "who"),
        ("When did the pier open?", "when"),
        ("Where is the Central Library?", "where"),
        ("Why did the founders move?", "why"),
        ("How many loans were made?", "how"),
        ("Did the network win an award?", "yes-no"),
        ("Is the pier still in use?", "yes-no"),
        ("Name the first director.", "other"),
        ("The catalogue of 1998 was replaced in the year of the flood; when?", "other"),
    ],
)
def test_question_types(question: str, kind: str) -> None:
    assert question_type(question) == kind and kind in TYPES


def test_overlap_is_the_share_of_content_words_in_the_evidence() -> None:
    # content words: lighthouse, corran, built -> 2 of 3 in the evidence
    assert overlap("When was the Corran lighthouse built?", "Corran lighthouse, 1871.") == 2 / 3
    assert overlap("What is it?", "anything") is None  # no content word: left out, not 0
    assert length("When was the Corran lighthouse built?") == 6


def test_profile_and_distance() -> None:
    people = profile([("When was the pier built?", "The pier was built in 1902."),
                      ("Why did it close?", "It closed for repairs.")])  # fmt: skip
    synth = profile([("What is the year in which the pier was built?", "The pier was built.")])
    assert people.n == 2 and people.length == 4.5 and people.types["when"] == 0.5
    assert people.overlap == (1.0 + 0.0) / 2  # pier, built: both; "close" is not "closed"
    d = distance(synth, people)
    assert d.length == 10 - 4.5 and d.types == 1.0  # no type in common
    assert d.overlap == synth.overlap - people.overlap
    assert distance(people, people).types == 0.0
    with pytest.raises(ValueError, match="no questions"):
        profile([])
