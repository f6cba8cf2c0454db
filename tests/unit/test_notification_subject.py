"""SNS refuses a Subject of 100 characters or more, or with line breaks or control characters
(InvalidParameter); a notification must never be lost to its subject line."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sluice.adapters.notifications import SUBJECT_MAX_CHARACTERS, sns_subject


def _acceptable_to_sns(subject: str) -> bool:
    return 0 < len(subject) < 100 and not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in subject)


def test_a_short_plain_subject_is_kept_as_it_is() -> None:
    assert sns_subject("Sluice rollout on fraud: PROMOTED") == "Sluice rollout on fraud: PROMOTED"


def test_a_long_key_is_cut_below_100_characters_and_says_so() -> None:
    subject = sns_subject("Sluice rejected endpoints/" + "a" * 200 + "/v1/model.tar.gz")
    assert len(subject) == SUBJECT_MAX_CHARACTERS
    assert subject.endswith("…")
    assert subject.startswith("Sluice rejected endpoints/aaa")


def test_line_breaks_and_control_characters_in_a_key_become_spaces() -> None:
    assert (
        sns_subject("Sluice rejected batch/m/input/a\nb\r\tc\x00.csv")
        == "Sluice rejected batch/m/input/a b c .csv"
    )


def test_an_empty_subject_gets_a_default() -> None:
    assert sns_subject("\n\t") == "Sluice notification"


@given(st.text())
def test_every_subject_is_one_sns_accepts(text: str) -> None:
    assert _acceptable_to_sns(sns_subject(text))
