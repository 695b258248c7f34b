"""Signed, expiring link tokens: what one proves, and that anything else is an InvalidToken."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from chalicelib.domain.tokens import InvalidToken, TokenClaims, issue_token, verify_token

NOW = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
DAY = timedelta(days=1)
KEY = "k-2026-11"
OLD_KEY = "k-2026-10"
PROPERTY = settings(max_examples=300, deadline=None)


def token(purpose: str = "feedback", order_id: str = "ord_0001", *, key: str = KEY) -> str:
    return issue_token(purpose, order_id, key=key, now=NOW, lifetime=DAY)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def claims_of(text: str) -> dict[str, object]:
    payload = text.split(".")[0]
    decoded: dict[str, object] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return decoded


def test_a_token_verifies_with_its_key_and_purpose_and_names_its_order_and_expiry() -> None:
    claims = verify_token(token(), "feedback", keys=[KEY], now=NOW)

    assert claims == TokenClaims(
        purpose="feedback", order_id="ord_0001", expires_at=int((NOW + DAY).timestamp())
    )


def test_a_token_is_url_safe_base64_payload_and_signature_without_padding() -> None:
    text = token(order_id="ord_?/+&=")

    payload, signature = text.split(".")
    alphabet = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert set(payload) <= alphabet and set(signature) <= alphabet
    assert claims_of(text) == {"o": "ord_?/+&=", "p": "feedback", "x": int((NOW + DAY).timestamp())}
    assert verify_token(text, "feedback", keys=[KEY], now=NOW).order_id == "ord_?/+&="


def test_issuing_needs_a_key() -> None:
    with pytest.raises(ValueError, match="signing key is required"):
        issue_token("feedback", "ord_0001", key="", now=NOW, lifetime=DAY)


def test_a_token_signed_with_another_key_is_invalid() -> None:
    with pytest.raises(InvalidToken, match="bad signature"):
        verify_token(token(key="someone-elses"), "feedback", keys=[KEY], now=NOW)


def test_a_payload_changed_to_another_order_no_longer_matches_its_signature() -> None:
    _, signature = token().split(".")
    forged_claims = {"o": "ord_0002", "p": "feedback", "x": int((NOW + DAY).timestamp())}
    forged = b64(json.dumps(forged_claims, separators=(",", ":"), sort_keys=True).encode())

    with pytest.raises(InvalidToken, match="bad signature"):
        verify_token(f"{forged}.{signature}", "feedback", keys=[KEY], now=NOW)


def test_a_later_expiry_cannot_be_written_into_a_token() -> None:
    _, signature = token().split(".")
    forged_claims = {"o": "ord_0001", "p": "feedback", "x": int((NOW + 100 * DAY).timestamp())}
    forged = b64(json.dumps(forged_claims, separators=(",", ":"), sort_keys=True).encode())

    with pytest.raises(InvalidToken):
        verify_token(f"{forged}.{signature}", "feedback", keys=[KEY], now=NOW + 2 * DAY)


@pytest.mark.parametrize("part", [0, 1])
def test_any_single_character_changed_in_payload_or_signature_makes_the_token_invalid(part: int) -> None:
    text = token()
    pieces = text.split(".")
    for i, char in enumerate(pieces[part]):
        changed = list(pieces)
        changed[part] = pieces[part][:i] + ("A" if char != "A" else "B") + pieces[part][i + 1 :]
        with pytest.raises(InvalidToken):
            verify_token(".".join(changed), "feedback", keys=[KEY], now=NOW)


def test_a_survey_token_cannot_unsubscribe_and_an_unsubscribe_token_cannot_rate() -> None:
    with pytest.raises(InvalidToken, match="another purpose"):
        verify_token(token("feedback"), "unsubscribe", keys=[KEY], now=NOW)
    with pytest.raises(InvalidToken, match="another purpose"):
        verify_token(token("unsubscribe"), "feedback", keys=[KEY], now=NOW)


def test_a_token_is_valid_up_to_and_at_its_expiry_second_and_expired_after_it() -> None:
    # The same convention as the dedup ttl and notification claims: live at exactly the expiry.
    expiry = NOW + DAY

    for moment in (NOW, expiry - timedelta(seconds=1), expiry):
        assert verify_token(token(), "feedback", keys=[KEY], now=moment).order_id == "ord_0001"
    for moment in (expiry + timedelta(microseconds=1), expiry + timedelta(seconds=1), expiry + 365 * DAY):
        with pytest.raises(InvalidToken, match="expired"):
            verify_token(token(), "feedback", keys=[KEY], now=moment)


def test_the_expiry_is_rounded_down_to_the_second_so_a_token_never_lives_longer_than_asked() -> None:
    issued = NOW + timedelta(microseconds=700_000)
    text = issue_token("feedback", "ord_0001", key=KEY, now=issued, lifetime=DAY)

    assert claims_of(text)["x"] == int((NOW + DAY).timestamp())
    with pytest.raises(InvalidToken, match="expired"):
        verify_token(text, "feedback", keys=[KEY], now=issued + DAY)


def test_during_a_key_rotation_tokens_of_the_old_key_still_verify() -> None:
    old = token(key=OLD_KEY)
    new = token(key=KEY)

    assert verify_token(old, "feedback", keys=[KEY, OLD_KEY], now=NOW).order_id == "ord_0001"
    assert verify_token(new, "feedback", keys=[KEY, OLD_KEY], now=NOW).order_id == "ord_0001"
    with pytest.raises(InvalidToken):
        verify_token(old, "feedback", keys=[KEY], now=NOW)  # after the rotation ends


def test_with_no_keys_or_only_empty_keys_nothing_verifies() -> None:
    for keys in ([], [""]):
        with pytest.raises(InvalidToken):
            verify_token(token(), "feedback", keys=keys, now=NOW)


def test_an_empty_key_in_the_list_never_verifies_a_token_signed_with_the_empty_string() -> None:
    payload = b64(b'{"o":"ord_0001","p":"feedback","x":9999999999}')
    signature = b64(hmac.new(b"", payload.encode(), hashlib.sha256).digest())

    with pytest.raises(InvalidToken):
        verify_token(f"{payload}.{signature}", "feedback", keys=["", KEY], now=NOW)


def test_a_token_over_1024_characters_is_refused_unread_even_when_correctly_signed() -> None:
    longest, too_long = token(order_id="o" * 697), token(order_id="o" * 698)
    assert (len(longest), len(too_long)) == (1024, 1026)

    assert verify_token(longest, "feedback", keys=[KEY], now=NOW).order_id == "o" * 697
    with pytest.raises(InvalidToken, match="malformed"):
        verify_token(too_long, "feedback", keys=[KEY], now=NOW)


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        ".",
        "no-dot-at-all",
        "payload.",
        ".signature",
        "!!!.???",
        "a.b.c",
        "x" * 2000 + "." + "y" * 43,
        token() + "A" * 1024,
    ],
)
def test_malformed_tokens_are_invalid(garbage: str) -> None:
    with pytest.raises(InvalidToken):
        verify_token(garbage, "feedback", keys=[KEY], now=NOW)


def test_a_signed_payload_that_is_not_our_json_is_invalid_not_a_crash() -> None:
    """Even a correctly signed payload is refused when it is not the claims object (defence in
    depth against a future key leak or a bug in issuing)."""

    def signed(data: bytes) -> str:
        payload = b64(data)
        return f"{payload}.{b64(hmac.new(KEY.encode(), payload.encode(), hashlib.sha256).digest())}"

    for data in (b"not json", b"[1,2]", b'{"p":"feedback"}', b'{"p":"feedback","o":"o","x":"soon"}', b"\xff"):
        with pytest.raises(InvalidToken, match="malformed"):
            verify_token(signed(data), "feedback", keys=[KEY], now=NOW)


@PROPERTY
@given(st.text(max_size=300))
def test_arbitrary_ascii_text_is_an_invalid_token_never_another_exception(text: str) -> None:
    with pytest.raises(InvalidToken):
        verify_token(text.encode("ascii", "ignore").decode(), "feedback", keys=[OLD_KEY, KEY], now=NOW)


@PROPERTY
@given(st.text(alphabet=st.characters(codec="ascii"), max_size=300), st.integers(0, 2))
def test_arbitrary_ascii_around_a_real_token_is_invalid_never_another_exception(
    text: str, where: int
) -> None:
    real = token()
    candidate = [text + real, real + text, text][where]
    if candidate == real:
        return
    with pytest.raises(InvalidToken):
        verify_token(candidate, "feedback", keys=[KEY], now=NOW)


@PROPERTY
@given(st.text(max_size=300))
@example("abc.\N{LATIN SMALL LETTER E WITH ACUTE}")
def test_arbitrary_text_is_an_invalid_token_never_another_exception(text: str) -> None:
    with pytest.raises(InvalidToken):
        verify_token(text, "feedback", keys=[KEY], now=NOW)


@pytest.mark.parametrize("suffix", ["\N{LATIN SMALL LETTER E WITH ACUTE}", "\N{SNOWMAN}"])
def test_a_token_whose_signature_has_non_ascii_characters_is_invalid(suffix: str) -> None:
    payload, signature = token().split(".")

    with pytest.raises(InvalidToken):
        verify_token(f"{payload}.{signature[:-1]}{suffix}", "feedback", keys=[KEY], now=NOW)
