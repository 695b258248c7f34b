"""Webhook signatures: official test vectors where providers publish them (EasyPost, Standard
Webhooks), and signatures built here with each provider's documented scheme otherwise."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import unicodedata
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import standardwebhooks.webhooks as standardwebhooks_module
from hypothesis import given, settings
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from chalicelib.domain.signatures import (
    StandardVerdict,
    header,
    verify_aftership,
    verify_easypost,
    verify_shippo,
    verify_shopify,
    verify_standard,
    verify_woocommerce,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
EASYPOST_BODY = (FIXTURES / "easypost" / "event-body.json").read_bytes()
EASYPOST_SIGNATURE = "hmac-sha256-hex=38f3f53c103713df81616a0a186d77141957323ec21d5fe9363db93840f527db"
EASYPOST_SECRET = "sécret"

# The Standard Webhooks specification's test vector.
SW_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SW_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SW_TIMESTAMP = 1614265330
SW_BODY = b'{"test": 2432232314}'
SW_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
SW_AT = datetime.fromtimestamp(SW_TIMESTAMP, tz=UTC)
SW_HEADERS = {"webhook-id": SW_ID, "webhook-timestamp": str(SW_TIMESTAMP), "webhook-signature": SW_SIGNATURE}

GARBLED = ["", " ", "é", "not base64!", "=", "hmac-sha256-hex=", "t=,v1=", "v1", "v1,", "v1,é", "\x00"]


def b64_hmac(secret: str, message: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def hex_hmac(secret: bytes, message: bytes) -> str:
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


# -- EasyPost ----------------------------------------------------------------------------------


def test_the_fixture_is_byte_for_byte_the_official_easypost_body() -> None:
    # Guards the vector itself: an editor adding a newline or reformatting breaks every test below.
    assert not EASYPOST_BODY.endswith(b"\n")
    assert "hmac-sha256-hex=" + hex_hmac(
        unicodedata.normalize("NFKD", EASYPOST_SECRET).encode(), EASYPOST_BODY
    ) == (EASYPOST_SIGNATURE)


def test_the_official_easypost_vector_verifies_with_its_secret() -> None:
    assert verify_easypost(EASYPOST_BODY, {"X-Hmac-Signature": EASYPOST_SIGNATURE}, [EASYPOST_SECRET])


def test_easypost_verifies_with_header_names_in_any_case() -> None:
    for name in ("x-hmac-signature", "X-HMAC-SIGNATURE", "X-Hmac-Signature"):
        assert verify_easypost(EASYPOST_BODY, {name: EASYPOST_SIGNATURE}, [EASYPOST_SECRET])


def test_the_nfc_and_nfkd_forms_of_the_easypost_secret_are_different_bytes() -> None:
    nfc = unicodedata.normalize("NFC", EASYPOST_SECRET).encode("utf-8")
    nfkd = unicodedata.normalize("NFKD", EASYPOST_SECRET).encode("utf-8")

    assert nfc == b"s\xc3\xa9cret"
    assert nfkd == b"se\xcc\x81cret"


def test_an_nfc_keyed_signature_is_not_easyposts_and_does_not_verify() -> None:
    nfc_key = unicodedata.normalize("NFC", EASYPOST_SECRET).encode("utf-8")
    nfc_signature = "hmac-sha256-hex=" + hex_hmac(nfc_key, EASYPOST_BODY)

    assert nfc_signature != EASYPOST_SIGNATURE
    assert not verify_easypost(EASYPOST_BODY, {"X-Hmac-Signature": nfc_signature}, [EASYPOST_SECRET])


def test_the_easypost_secret_verifies_however_it_was_typed_because_we_normalise_it() -> None:
    for form in ("NFC", "NFD", "NFKC", "NFKD"):
        secret = unicodedata.normalize(form, EASYPOST_SECRET)
        assert verify_easypost(EASYPOST_BODY, {"X-Hmac-Signature": EASYPOST_SIGNATURE}, [secret])


def test_a_re_serialised_easypost_body_does_not_verify() -> None:
    reserialised = json.dumps(json.loads(EASYPOST_BODY)).encode()

    assert reserialised != EASYPOST_BODY
    assert not verify_easypost(reserialised, {"X-Hmac-Signature": EASYPOST_SIGNATURE}, [EASYPOST_SECRET])


def test_an_easypost_signature_with_another_secret_does_not_verify() -> None:
    assert not verify_easypost(EASYPOST_BODY, {"X-Hmac-Signature": EASYPOST_SIGNATURE}, ["secret"])


def test_during_an_easypost_rotation_the_old_and_the_new_secret_both_verify() -> None:
    new_signature = "hmac-sha256-hex=" + hex_hmac(b"new-secret", EASYPOST_BODY)

    assert verify_easypost(
        EASYPOST_BODY, {"X-Hmac-Signature": EASYPOST_SIGNATURE}, [EASYPOST_SECRET, "new-secret"]
    )
    assert verify_easypost(
        EASYPOST_BODY, {"X-Hmac-Signature": new_signature}, [EASYPOST_SECRET, "new-secret"]
    )
    assert not verify_easypost(EASYPOST_BODY, {"X-Hmac-Signature": new_signature}, [EASYPOST_SECRET])


@pytest.mark.parametrize("value", [*GARBLED, EASYPOST_SIGNATURE.upper(), EASYPOST_SIGNATURE[16:]])
def test_a_garbled_easypost_header_is_refused_without_raising(value: str) -> None:
    assert not verify_easypost(EASYPOST_BODY, {"X-Hmac-Signature": value}, [EASYPOST_SECRET])


def test_easypost_without_a_header_or_without_secrets_is_refused() -> None:
    assert not verify_easypost(EASYPOST_BODY, {}, [EASYPOST_SECRET])
    assert not verify_easypost(EASYPOST_BODY, {"X-Hmac-Signature": EASYPOST_SIGNATURE}, [])


def test_an_empty_configured_secret_never_verifies_even_a_correct_empty_key_signature() -> None:
    # Anyone can compute an HMAC under the empty key; an unset secret must not open the door.
    forged = "hmac-sha256-hex=" + hex_hmac(b"", EASYPOST_BODY)
    b64_forged = b64_hmac("", EASYPOST_BODY)

    assert not verify_easypost(EASYPOST_BODY, {"X-Hmac-Signature": forged}, [""])
    assert not verify_shopify(EASYPOST_BODY, {"X-Shopify-Hmac-Sha256": b64_forged}, [""])
    assert not verify_shippo(b"{}", {}, "", [""], now=0)


# -- Standard Webhooks -------------------------------------------------------------------------


def test_the_standard_webhooks_vector_verifies_at_its_own_time() -> None:
    assert verify_standard(SW_BODY, SW_HEADERS, [SW_SECRET], now=SW_AT) is StandardVerdict.VALID
    assert StandardVerdict.VALID.ok


def test_the_standard_webhooks_vector_is_refused_as_too_old_ten_minutes_later() -> None:
    verdict = verify_standard(SW_BODY, SW_HEADERS, [SW_SECRET], now=SW_AT + timedelta(minutes=10))

    assert verdict is StandardVerdict.TIMESTAMP_TOO_OLD
    assert not verdict.ok


def test_the_standard_webhooks_vector_is_refused_as_too_new_ten_minutes_earlier() -> None:
    verdict = verify_standard(SW_BODY, SW_HEADERS, [SW_SECRET], now=SW_AT - timedelta(minutes=10))

    assert verdict is StandardVerdict.TIMESTAMP_TOO_NEW


def test_five_minutes_off_is_still_inside_the_standard_webhooks_window_and_a_second_more_is_not() -> None:
    five = timedelta(minutes=5)
    second = timedelta(seconds=1)

    assert verify_standard(SW_BODY, SW_HEADERS, [SW_SECRET], now=SW_AT + five).ok
    assert verify_standard(SW_BODY, SW_HEADERS, [SW_SECRET], now=SW_AT - five).ok
    assert verify_standard(SW_BODY, SW_HEADERS, [SW_SECRET], now=SW_AT + five + second) is (
        StandardVerdict.TIMESTAMP_TOO_OLD
    )


def test_a_tampered_standard_webhooks_body_is_a_bad_signature() -> None:
    verdict = verify_standard(b'{"test": 2432232315}', SW_HEADERS, [SW_SECRET], now=SW_AT)

    assert verdict is StandardVerdict.BAD_SIGNATURE


def test_a_forged_old_message_is_told_bad_signature_not_too_old() -> None:
    # The window is only discussed with senders who hold the secret.
    verdict = verify_standard(b"{}", SW_HEADERS, [SW_SECRET], now=SW_AT + timedelta(hours=1))

    assert verdict is StandardVerdict.BAD_SIGNATURE


def test_a_standard_webhooks_id_or_timestamp_changed_breaks_the_signature() -> None:
    moved = {**SW_HEADERS, "webhook-timestamp": str(SW_TIMESTAMP + 1)}
    renamed = {**SW_HEADERS, "webhook-id": "msg_other"}

    assert verify_standard(SW_BODY, moved, [SW_SECRET], now=SW_AT) is StandardVerdict.BAD_SIGNATURE
    assert verify_standard(SW_BODY, renamed, [SW_SECRET], now=SW_AT) is StandardVerdict.BAD_SIGNATURE


def test_a_timestamp_spelled_differently_is_refused_though_the_reference_library_accepts_it() -> None:
    # float("1614265330.0") is the same instant, and Webhook.verify signs floor(float(header)),
    # so it would accept this; the signed content is the header text, so we refuse it.
    respelled = {**SW_HEADERS, "webhook-timestamp": f"{SW_TIMESTAMP}.0"}

    assert verify_standard(SW_BODY, respelled, [SW_SECRET], now=SW_AT) is StandardVerdict.BAD_SIGNATURE


def test_standard_webhooks_headers_are_found_in_any_case() -> None:
    shouting = {key.upper(): value for key, value in SW_HEADERS.items()}

    assert verify_standard(SW_BODY, shouting, [SW_SECRET], now=SW_AT).ok


def test_one_matching_signature_among_several_verifies() -> None:
    several = {
        **SW_HEADERS,
        "webhook-signature": f"v1,{base64.b64encode(b'x' * 32).decode()} v2,abc {SW_SIGNATURE}",
    }

    assert verify_standard(SW_BODY, several, [SW_SECRET], now=SW_AT).ok


def test_during_a_standard_webhooks_rotation_the_old_and_the_new_secret_both_verify() -> None:
    new_secret = "whsec_" + base64.b64encode(b"a brand new key of 24 bytes!").decode()
    new_signature = Webhook(new_secret).sign(SW_ID, SW_AT, SW_BODY.decode())
    signed_with_new = {**SW_HEADERS, "webhook-signature": new_signature}

    assert verify_standard(SW_BODY, SW_HEADERS, [SW_SECRET, new_secret], now=SW_AT).ok
    assert verify_standard(SW_BODY, signed_with_new, [SW_SECRET, new_secret], now=SW_AT).ok
    assert verify_standard(SW_BODY, signed_with_new, [SW_SECRET], now=SW_AT) is StandardVerdict.BAD_SIGNATURE


def test_an_unusable_configured_secret_does_not_stop_the_other_one_verifying() -> None:
    assert verify_standard(SW_BODY, SW_HEADERS, ["whsec_***not base64***", SW_SECRET], now=SW_AT).ok
    assert verify_standard(SW_BODY, SW_HEADERS, ["whsec_***not base64***"], now=SW_AT) is (
        StandardVerdict.BAD_SIGNATURE
    )


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_a_missing_standard_webhooks_header_is_reported_as_missing(missing: str) -> None:
    headers = {key: value for key, value in SW_HEADERS.items() if key != missing}

    assert verify_standard(SW_BODY, headers, [SW_SECRET], now=SW_AT) is StandardVerdict.MISSING_HEADERS


@pytest.mark.parametrize("value", GARBLED)
def test_a_garbled_standard_webhooks_signature_is_a_bad_signature_not_an_exception(value: str) -> None:
    headers = {**SW_HEADERS, "webhook-signature": value}
    expected = StandardVerdict.MISSING_HEADERS if not value else StandardVerdict.BAD_SIGNATURE

    assert verify_standard(SW_BODY, headers, [SW_SECRET], now=SW_AT) is expected


@pytest.mark.parametrize("value", ["yesterday", "-1", "1e9", "99999999999999999999", "nan", "0x10"])
def test_a_garbled_standard_webhooks_timestamp_is_a_bad_signature(value: str) -> None:
    headers = {**SW_HEADERS, "webhook-timestamp": value}

    assert verify_standard(SW_BODY, headers, [SW_SECRET], now=SW_AT) is StandardVerdict.BAD_SIGNATURE


def test_a_body_that_is_not_utf8_is_a_bad_signature() -> None:
    assert verify_standard(b"\xff\xfe", SW_HEADERS, [SW_SECRET], now=SW_AT) is StandardVerdict.BAD_SIGNATURE


def test_standard_webhooks_with_no_secrets_is_refused() -> None:
    assert verify_standard(SW_BODY, SW_HEADERS, [], now=SW_AT) is StandardVerdict.BAD_SIGNATURE


def test_the_reference_library_itself_raises_value_error_on_a_signature_without_comma() -> None:
    # Why verify_standard does not call Webhook.verify: this is a ValueError, not its own error.
    with (
        mock.patch.object(standardwebhooks_module, "datetime", _frozen_datetime(SW_AT)),
        pytest.raises(ValueError, match="unpack"),
    ):
        Webhook(SW_SECRET).verify(SW_BODY, {**SW_HEADERS, "webhook-signature": "v1"})


def _frozen_datetime(at: datetime) -> Any:
    class Frozen(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Any:
            return at.astimezone(tz)

    return Frozen


@settings(max_examples=200, deadline=None)
@given(
    offset=st.integers(-900, 900) | st.sampled_from([-301, -300, 300, 301]),
    microseconds=st.integers(0, 999_999),
    tampered=st.booleans(),
)
def test_our_verdict_agrees_with_the_reference_library_at_every_clock_offset(
    offset: int, microseconds: int, tampered: bool
) -> None:
    now = SW_AT + timedelta(seconds=offset, microseconds=microseconds)
    body = SW_BODY + b" " if tampered else SW_BODY
    with mock.patch.object(standardwebhooks_module, "datetime", _frozen_datetime(now)):
        try:
            Webhook(SW_SECRET).verify(body, SW_HEADERS)
            library_accepts = True
        except WebhookVerificationError:
            library_accepts = False

    assert verify_standard(body, SW_HEADERS, [SW_SECRET], now=now).ok is library_accepts


# -- Shippo ------------------------------------------------------------------------------------

SHIPPO_BODY = (FIXTURES / "shippo" / "delivered.json").read_bytes()
SHIPPO_NOW = 1722880000


def shippo_header(secret: str, t: int, body: bytes = SHIPPO_BODY) -> str:
    return f"t={t},v1={hex_hmac(secret.encode(), f'{t}.'.encode() + body)}"


def test_shippo_with_the_right_url_token_verifies() -> None:
    assert verify_shippo(SHIPPO_BODY, {}, "tok_123", ["tok_123"], now=SHIPPO_NOW)


def test_shippo_with_a_wrong_or_missing_url_token_is_refused() -> None:
    assert not verify_shippo(SHIPPO_BODY, {}, "tok_124", ["tok_123"], now=SHIPPO_NOW)
    assert not verify_shippo(SHIPPO_BODY, {}, "tok_12", ["tok_123"], now=SHIPPO_NOW)
    assert not verify_shippo(SHIPPO_BODY, {}, None, ["tok_123"], now=SHIPPO_NOW)
    assert not verify_shippo(SHIPPO_BODY, {}, "é", ["tok_123"], now=SHIPPO_NOW)
    assert not verify_shippo(SHIPPO_BODY, {}, "tok_123", [], now=SHIPPO_NOW)


def test_during_a_shippo_rotation_the_old_and_the_new_token_both_verify() -> None:
    assert verify_shippo(SHIPPO_BODY, {}, "old", ["old", "new"], now=SHIPPO_NOW)
    assert verify_shippo(SHIPPO_BODY, {}, "new", ["old", "new"], now=SHIPPO_NOW)


def test_a_shippo_hmac_signature_verifies_with_the_token() -> None:
    headers = {"shippo-auth-signature": shippo_header("hmac-key", SHIPPO_NOW - 10)}

    assert verify_shippo(SHIPPO_BODY, headers, "tok", ["tok"], now=SHIPPO_NOW, hmac_secrets=["hmac-key"])


def test_the_shippo_hmac_key_defaults_to_the_configured_secrets() -> None:
    headers = {"Shippo-Auth-Signature": shippo_header("tok", SHIPPO_NOW)}

    assert verify_shippo(SHIPPO_BODY, headers, "tok", ["tok"], now=SHIPPO_NOW)


def test_a_present_but_wrong_shippo_hmac_fails_even_with_the_right_token() -> None:
    tampered = {"Shippo-Auth-Signature": shippo_header("hmac-key", SHIPPO_NOW, SHIPPO_BODY + b" ")}
    other_key = {"Shippo-Auth-Signature": shippo_header("other-key", SHIPPO_NOW)}

    for headers in (tampered, other_key):
        assert not verify_shippo(
            SHIPPO_BODY, headers, "tok", ["tok"], now=SHIPPO_NOW, hmac_secrets=["hmac-key"]
        )


def test_a_shippo_hmac_outside_the_tolerance_is_refused() -> None:
    for t in (SHIPPO_NOW - 301, SHIPPO_NOW + 301):
        headers = {"Shippo-Auth-Signature": shippo_header("k", t)}
        assert not verify_shippo(SHIPPO_BODY, headers, "tok", ["tok"], now=SHIPPO_NOW, hmac_secrets=["k"])
    edge = {"Shippo-Auth-Signature": shippo_header("k", SHIPPO_NOW - 300)}
    assert verify_shippo(SHIPPO_BODY, edge, "tok", ["tok"], now=SHIPPO_NOW, hmac_secrets=["k"])


@pytest.mark.parametrize("value", [*GARBLED, "t=abc,v1=00", "v1=00", "t=1722880000", "t=1722880000,v1=zz"])
def test_a_garbled_shippo_signature_header_is_refused_without_raising(value: str) -> None:
    headers = {"Shippo-Auth-Signature": value}

    assert not verify_shippo(SHIPPO_BODY, headers, "tok", ["tok"], now=SHIPPO_NOW)


def test_once_shippo_hmac_is_required_a_token_alone_is_not_enough() -> None:
    assert not verify_shippo(SHIPPO_BODY, {}, "tok", ["tok"], now=SHIPPO_NOW, require_signature=True)
    signed = {"Shippo-Auth-Signature": shippo_header("tok", SHIPPO_NOW)}
    assert verify_shippo(SHIPPO_BODY, signed, "tok", ["tok"], now=SHIPPO_NOW, require_signature=True)


# -- AfterShip, Shopify, WooCommerce (base64 HMAC of the raw body) ----------------------------

BASE64_SCHEMES = [
    (verify_aftership, "aftership-hmac-sha256", "aftership/delivered.json"),
    (verify_shopify, "X-Shopify-Hmac-Sha256", "shippo/delivered.json"),
    (verify_woocommerce, "X-WC-Webhook-Signature", "aftership/attempt-fail.json"),
]


@pytest.mark.parametrize(("verify", "name", "fixture"), BASE64_SCHEMES)
def test_a_base64_hmac_of_the_raw_body_verifies_in_any_header_case(
    verify: Any, name: str, fixture: str
) -> None:
    raw_body = (FIXTURES / fixture).read_bytes()
    signature = b64_hmac("shpss_secret", raw_body)

    for key in (name, name.lower(), name.upper()):
        assert verify(raw_body, {key: signature}, ["shpss_secret"])


@pytest.mark.parametrize(("verify", "name", "fixture"), BASE64_SCHEMES)
def test_a_tampered_body_or_signature_does_not_verify(verify: Any, name: str, fixture: str) -> None:
    raw_body = (FIXTURES / fixture).read_bytes()
    signature = b64_hmac("shpss_secret", raw_body)
    flipped = base64.b64encode(bytes([base64.b64decode(signature)[0] ^ 1]) + base64.b64decode(signature)[1:])

    assert not verify(raw_body.replace(b"fedex", b"fedeX", 1) + b" ", {name: signature}, ["shpss_secret"])
    assert not verify(json.dumps(json.loads(raw_body)).encode(), {name: signature}, ["shpss_secret"])
    assert not verify(raw_body, {name: flipped.decode()}, ["shpss_secret"])
    assert not verify(raw_body, {name: signature}, ["another_secret"])


@pytest.mark.parametrize(("verify", "name", "fixture"), BASE64_SCHEMES)
def test_during_a_rotation_either_secret_verifies(verify: Any, name: str, fixture: str) -> None:
    raw_body = (FIXTURES / fixture).read_bytes()

    for secret in ("old", "new"):
        assert verify(raw_body, {name: b64_hmac(secret, raw_body)}, ["old", "new"])


@pytest.mark.parametrize(("verify", "name", "fixture"), BASE64_SCHEMES)
@pytest.mark.parametrize("value", GARBLED)
def test_a_garbled_base64_header_is_refused_without_raising(
    verify: Any, name: str, fixture: str, value: str
) -> None:
    assert not verify(b"{}", {name: value}, ["secret"])


@pytest.mark.parametrize(("verify", "name", "fixture"), BASE64_SCHEMES)
def test_a_missing_header_or_no_secrets_is_refused(verify: Any, name: str, fixture: str) -> None:
    assert not verify(b"{}", {}, ["secret"])
    assert not verify(b"{}", {name: b64_hmac("secret", b"{}")}, [])


def test_header_lookup_ignores_case_and_returns_none_when_absent() -> None:
    assert header({"X-Thing": "1"}, "x-thing") == "1"
    assert header({"x-thing": "1"}, "X-THING") == "1"
    assert header({}, "X-Thing") is None
