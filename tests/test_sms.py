"""The SMS channel: number normalization, the console and Twilio backends, the STOP webhook."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import logging
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

import pytest
import requests
import responses
import time_machine
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from crosssell_plugin.channels.base import Outgoing, PermanentSendError, SendResult, TransientSendError
from crosssell_plugin.channels.sms import (
    SEPARATORS,
    ConsoleSmsBackend,
    TwilioSmsBackend,
    get_sms_backend,
    normalize_e164,
)
from crosssell_plugin.channels.sms_inbound import _phone_pattern, twilio_signature
from crosssell_plugin.models import Customer, CustomerConsent, Store
from crosssell_plugin.signals import consent_withdrawn

FIXTURES = Path(__file__).parent / "fixtures" / "twilio"
SID = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
TOKEN = "s3cr3t-auth-token-0123456789abcdef"
SENDER = "+15005550006"
MESSAGES_URL = f"https://api.twilio.com/2010-04-01/Accounts/{SID}/Messages.json"
NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def outgoing(to: str = "+1 (415) 555-0100", key: str = "order-1001:step-1", **overrides: Any) -> Outgoing:
    values: dict[str, Any] = {"channel": "sms", "to": to, "idempotency_key": key, "body": "You may also like..."}
    values.update(overrides)
    return Outgoing(**values)


@pytest.fixture
def twilio_settings(settings: Any) -> dict[str, Any]:
    sms = {
        "BACKEND": "crosssell_plugin.channels.sms.TwilioSmsBackend",
        "FROM": SENDER,
        "ACCOUNT_SID": SID,
        "AUTH_TOKEN": TOKEN,
        "TIMEOUT_SECONDS": 5,
    }
    settings.CROSSSELL = {**getattr(settings, "CROSSSELL", {}), "SMS": sms}
    return sms


# --- normalize_e164 -------------------------------------------------------------------------

separators = st.text(alphabet=SEPARATORS, max_size=2)


@st.composite
def formatted_numbers(draw: Any) -> tuple[str, str]:
    """(a valid number written with random separators, its E.164 form)."""
    digits = draw(st.from_regex(r"[1-9][0-9]{1,14}", fullmatch=True))
    pieces = [draw(separators), "+"] + [draw(separators) + digit for digit in digits] + [draw(separators)]
    return "".join(pieces), "+" + digits


@given(formatted_numbers())
def test_valid_numbers_normalize_to_e164(case: tuple[str, str]) -> None:
    written, expected = case
    assert normalize_e164(written) == expected


@given(st.text(max_size=25))
def test_any_text_normalizes_to_e164_or_raises_value_error(raw: str) -> None:
    try:
        number = normalize_e164(raw)
    except ValueError as err:
        assert "is not an E.164 phone number" in str(err)
    else:
        assert re.fullmatch(r"\+[1-9][0-9]{1,14}", number)


@given(st.from_regex(r"\+?[0-9]{16,20}|[1-9][0-9]{1,14}|\+0[0-9]{1,14}|\+[0-9]", fullmatch=True))
def test_wrong_lengths_missing_plus_and_leading_zero_are_rejected(raw: str) -> None:
    with pytest.raises(ValueError, match=r"is not an E\.164 phone number"):
        normalize_e164(raw)


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("", "it is empty"),
        (" - ", "it is empty"),
        ("415 555 0100", "must start with + and the country code"),
        ("0044 20 7946 0000", "must start with + and the country code"),
        ("+1 415 555 0100 ext 7", "may only hold digits after the +, found 'ext'"),
        ("+1/415/5550100", "found '/'"),
        ("+١٢٣٤٥٦", "may only hold digits"),  # Arabic-Indic digits are not E.164 digits
        ("+0 20 7946 0000", "a country code never starts with 0"),
        ("+1", "it has 1 digit after the +; E.164 allows 2 to 15"),
        ("+1234567890123456", "it has 16 digits"),
    ],
)
def test_rejections_name_the_problem(raw: str, problem: str) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)):
        normalize_e164(raw)


def test_non_string_is_rejected() -> None:
    with pytest.raises(ValueError, match="must be a string"):
        normalize_e164(14155550100)  # type: ignore[arg-type]


@given(formatted_numbers(), st.from_regex(r"\+[1-9][0-9]{1,14}", fullmatch=True))
def test_database_pattern_matches_exactly_the_numbers_that_normalize_alike(case: tuple[str, str], other: str) -> None:
    written, number = case
    assert re.search(_phone_pattern(number), written)
    assert bool(re.search(_phone_pattern(other), written)) == (other == number)


# --- get_sms_backend ------------------------------------------------------------------------


def test_default_backend_is_the_console() -> None:
    assert isinstance(get_sms_backend(), ConsoleSmsBackend)


def test_configured_backend_gets_constructor_arguments(settings: Any) -> None:
    stream = io.StringIO()
    settings.CROSSSELL = {"SMS": {"BACKEND": "crosssell_plugin.channels.sms.ConsoleSmsBackend"}}
    backend = get_sms_backend(stream=stream)
    assert isinstance(backend, ConsoleSmsBackend)
    assert backend.stream is stream


def test_twilio_backend_is_built_from_settings(twilio_settings: dict[str, Any]) -> None:
    backend = get_sms_backend()
    assert isinstance(backend, TwilioSmsBackend)
    assert backend.url == MESSAGES_URL


@pytest.mark.parametrize("path", ["crosssell_plugin.channels.sms.NoSuchBackend", "no_such_module.Backend", "nodots"])
def test_bad_backend_path_is_a_configuration_error(settings: Any, path: str) -> None:
    settings.CROSSSELL = {"SMS": {"BACKEND": path}}
    with pytest.raises(ImproperlyConfigured, match=re.escape(f'CROSSSELL["SMS"]["BACKEND"] is {path!r}')):
        get_sms_backend()


# --- console backend ------------------------------------------------------------------------


def test_console_writes_the_message_and_derives_the_id_from_the_key(settings: Any) -> None:
    settings.CROSSSELL = {"SMS": {"FROM": SENDER}}
    stream = io.StringIO()
    backend = ConsoleSmsBackend(stream=stream)

    first = backend.send(outgoing(body="Hello Ann"))
    again = backend.send(outgoing(body="Hello Ann"))
    other = backend.send(outgoing(key="order-1001:step-2"))

    output = stream.getvalue()
    assert "SMS to: +14155550100\nFrom: +15005550006\nIdempotency-Key: order-1001:step-1\n\nHello Ann\n" in output
    assert output.count("-" * 79) == 3
    assert first == again == SendResult(provider_message_id=first.provider_message_id)
    assert first.provider_message_id.startswith("console-")
    assert other.provider_message_id != first.provider_message_id


def test_console_writes_to_stdout_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    ConsoleSmsBackend().send(outgoing())
    assert "SMS to: +14155550100" in capsys.readouterr().out


def test_console_rejects_what_a_real_backend_would_reject() -> None:
    backend = ConsoleSmsBackend(stream=io.StringIO())
    with pytest.raises(PermanentSendError, match=r"not an E\.164 phone number") as caught:
        backend.send(outgoing(to="415 555 0100"))
    assert caught.value.opted_out is False
    with pytest.raises(ValueError, match="cannot send a 'email' message"):
        backend.send(outgoing(channel="email", to="ann@example.com"))


# --- Twilio backend: configuration -----------------------------------------------------------


@pytest.mark.parametrize("key", ["ACCOUNT_SID", "AUTH_TOKEN", "FROM"])
@pytest.mark.parametrize("value", ["", "   ", None])
def test_missing_credentials_name_the_key(twilio_settings: dict[str, Any], settings: Any, key: str, value: Any) -> None:
    settings.CROSSSELL = {"SMS": {**twilio_settings, key: value}}
    with pytest.raises(ImproperlyConfigured, match=re.escape(f'CROSSSELL["SMS"]["{key}"]')) as caught:
        TwilioSmsBackend()
    assert TOKEN not in str(caught.value)


@pytest.mark.parametrize(
    ("key", "value"),
    [("BASE_URL", "api.twilio.com"), ("TIMEOUT_SECONDS", 0), ("TIMEOUT_SECONDS", "10"), ("TIMEOUT_SECONDS", True)],
)
def test_bad_base_url_or_timeout_is_refused(
    twilio_settings: dict[str, Any], settings: Any, key: str, value: Any
) -> None:
    settings.CROSSSELL = {"SMS": {**twilio_settings, key: value}}
    with pytest.raises(ImproperlyConfigured, match=re.escape(f'CROSSSELL["SMS"]["{key}"]')):
        TwilioSmsBackend()


def test_the_token_stays_out_of_the_backend_repr(twilio_settings: dict[str, Any]) -> None:
    assert TOKEN not in repr(TwilioSmsBackend())


# --- Twilio backend: faked HTTP -------------------------------------------------------------


@pytest.fixture
def twilio(twilio_settings: dict[str, Any]) -> Iterator[tuple[TwilioSmsBackend, responses.RequestsMock]]:
    with responses.RequestsMock() as mock:
        yield TwilioSmsBackend(), mock


@pytest.fixture
def no_token_in_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.DEBUG)
    yield
    assert TOKEN not in caplog.text


def test_success_returns_the_sid_and_sends_form_fields_auth_and_key(twilio: Any, no_token_in_logs: None) -> None:
    backend, mock = twilio
    mock.post(MESSAGES_URL, json=fixture("message_created.json"), status=201)

    result = backend.send(outgoing(body="You may also like: The Gleaners and I"))

    assert result == SendResult(provider_message_id="SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
    request = mock.calls[0].request
    assert parse_qs(request.body) == {
        "To": ["+14155550100"],
        "From": [SENDER],
        "Body": ["You may also like: The Gleaners and I"],
    }
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
    assert request.headers["I-Twilio-Idempotency-Token"] == "order-1001:step-1"
    assert request.req_kwargs["timeout"] == 5


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_transient(twilio: Any, no_token_in_logs: None, status: int) -> None:
    backend, mock = twilio
    mock.post(MESSAGES_URL, json={**fixture("error_20500_internal.json"), "status": status}, status=status)
    with pytest.raises(TransientSendError, match=f"HTTP {status}, error 20500: Internal Server Error") as caught:
        backend.send(outgoing())
    assert caught.value.retry_after is None


def test_a_503_with_retry_after_passes_the_hint_on(twilio: Any) -> None:
    backend, mock = twilio
    mock.post(MESSAGES_URL, body="<html>Service Unavailable</html>", status=503, headers={"Retry-After": "30"})
    with pytest.raises(TransientSendError, match="HTTP 503: <html>Service Unavailable</html>") as caught:
        backend.send(outgoing())
    assert caught.value.retry_after == 30


@pytest.mark.parametrize(
    "error",
    [
        requests.ConnectTimeout("connect timed out"),
        requests.ReadTimeout("read timed out"),
        requests.ConnectionError("reset"),
    ],
)
def test_timeouts_and_connection_errors_are_transient(twilio: Any, no_token_in_logs: None, error: Exception) -> None:
    backend, mock = twilio
    mock.post(MESSAGES_URL, body=error)
    with pytest.raises(TransientSendError, match="Twilio could not be reached") as caught:
        backend.send(outgoing())
    assert caught.value.__cause__ is error
    assert caught.value.retry_after is None


def test_429_with_retry_after_seconds(twilio: Any, no_token_in_logs: None) -> None:
    backend, mock = twilio
    mock.post(
        MESSAGES_URL, json=fixture("error_20429_too_many_requests.json"), status=429, headers={"Retry-After": "7"}
    )
    with pytest.raises(TransientSendError, match="HTTP 429, error 20429: Too Many Requests") as caught:
        backend.send(outgoing())
    assert caught.value.retry_after == 7.0


def test_429_with_retry_after_http_date(twilio: Any) -> None:
    backend, mock = twilio
    retry_at = format_datetime(NOW + timedelta(seconds=90), usegmt=True)
    mock.post(
        MESSAGES_URL, json=fixture("error_20429_too_many_requests.json"), status=429, headers={"Retry-After": retry_at}
    )
    with time_machine.travel(NOW, tick=False), pytest.raises(TransientSendError) as caught:
        backend.send(outgoing())
    assert caught.value.retry_after == 90.0


@pytest.mark.parametrize(
    ("header", "expected"), [("", None), ("soon", None), ("-5", None), ("Sun, 06 Nov 1994 08:49:37 GMT", 0.0)]
)
def test_429_with_unusable_or_past_retry_after(twilio: Any, header: str, expected: float | None) -> None:
    backend, mock = twilio
    mock.post(
        MESSAGES_URL, json=fixture("error_20429_too_many_requests.json"), status=429, headers={"Retry-After": header}
    )
    with pytest.raises(TransientSendError) as caught:
        backend.send(outgoing())
    assert caught.value.retry_after == expected


def test_unsubscribed_recipient_is_permanent_and_opted_out(twilio: Any, no_token_in_logs: None) -> None:
    backend, mock = twilio
    mock.post(MESSAGES_URL, json=fixture("error_21610_unsubscribed.json"), status=400)
    with pytest.raises(PermanentSendError, match="error 21610: Attempt to send to unsubscribed recipient") as caught:
        backend.send(outgoing())
    assert caught.value.opted_out is True


@pytest.mark.parametrize(
    ("payload", "status", "text"),
    [
        (
            "error_21211_invalid_to.json",
            400,
            "HTTP 400, error 21211: The 'To' number +14155550100 is not a valid phone number.",
        ),
        (
            "error_20003_authenticate.json",
            401,
            "HTTP 401, error 20003: Authenticate (see https://www.twilio.com/docs/errors/20003)",
        ),
    ],
)
def test_other_client_errors_are_permanent_with_twilio_message_and_code(
    twilio: Any, no_token_in_logs: None, payload: str, status: int, text: str
) -> None:
    backend, mock = twilio
    mock.post(MESSAGES_URL, json=fixture(payload), status=status)
    with pytest.raises(PermanentSendError, match=re.escape(text)) as caught:
        backend.send(outgoing())
    assert caught.value.opted_out is False


def test_the_token_is_redacted_even_when_an_answer_echoes_it(twilio: Any, no_token_in_logs: None) -> None:
    backend, mock = twilio
    mock.post(MESSAGES_URL, body=f"bad credentials {SID}:{TOKEN}", status=403)
    with pytest.raises(PermanentSendError) as caught:
        backend.send(outgoing())
    assert TOKEN not in str(caught.value)
    assert "[auth token]" in str(caught.value)


def test_a_connection_error_mentioning_the_token_is_redacted(twilio: Any, no_token_in_logs: None) -> None:
    backend, mock = twilio
    mock.post(MESSAGES_URL, body=requests.ConnectionError(f"proxy refused https://{SID}:{TOKEN}@proxy"))
    with pytest.raises(TransientSendError) as caught:
        backend.send(outgoing())
    assert TOKEN not in str(caught.value)


def test_an_invalid_recipient_is_refused_before_any_request(twilio: Any) -> None:
    backend, mock = twilio
    with pytest.raises(PermanentSendError, match="must start with \\+"):
        backend.send(outgoing(to="4155550100"))
    assert len(mock.calls) == 0


def test_a_success_without_sid_still_counts_as_sent(twilio: Any, caplog: pytest.LogCaptureFixture) -> None:
    backend, mock = twilio
    mock.post(MESSAGES_URL, body="", status=201)
    assert backend.send(outgoing()) == SendResult()
    assert "carries no message sid" in caplog.text


# --- Twilio backend: a real socket ----------------------------------------------------------


class FakeTwilio(BaseHTTPRequestHandler):
    """Stands in for api.twilio.com: records each request, answers what ``answers`` says."""

    received: list[dict[str, Any]]
    answers: dict[str, tuple[int, dict[str, str], bytes, float]]

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        self.received.append({"path": self.path, "headers": dict(self.headers), "body": self.rfile.read(length)})
        status, headers, body, delay = self.answers["next"]
        if delay:
            threading.Event().wait(delay)
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the client of the timeout test hangs up before the answer


@pytest.fixture
def fake_twilio(twilio_settings: dict[str, Any], settings: Any) -> Iterator[tuple[type[FakeTwilio], str]]:
    handler = type("Handler", (FakeTwilio,), {"received": [], "answers": {}})
    server = QuietServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    base_url = f"http://127.0.0.1:{server.server_address[1]}"
    settings.CROSSSELL = {"SMS": {**twilio_settings, "BASE_URL": base_url + "/", "TIMEOUT_SECONDS": 5}}
    try:
        yield handler, base_url
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_over_a_real_socket(fake_twilio: tuple[type[FakeTwilio], str]) -> None:
    handler, _ = fake_twilio
    handler.answers["next"] = (201, {}, (FIXTURES / "message_created.json").read_bytes(), 0)

    result = TwilioSmsBackend().send(outgoing(body="Hé, à bientôt"))

    assert result.provider_message_id == "SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    (request,) = handler.received
    assert request["path"] == f"/2010-04-01/Accounts/{SID}/Messages.json"
    assert request["headers"]["Authorization"] == "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
    assert request["headers"]["I-Twilio-Idempotency-Token"] == "order-1001:step-1"
    assert parse_qs(request["body"].decode()) == {"To": ["+14155550100"], "From": [SENDER], "Body": ["Hé, à bientôt"]}


def test_over_a_real_socket_429_and_timeout(fake_twilio: tuple[type[FakeTwilio], str], settings: Any) -> None:
    handler, _ = fake_twilio
    handler.answers["next"] = (
        429,
        {"Retry-After": "3"},
        (FIXTURES / "error_20429_too_many_requests.json").read_bytes(),
        0,
    )
    with pytest.raises(TransientSendError) as caught:
        TwilioSmsBackend().send(outgoing())
    assert caught.value.retry_after == 3.0

    settings.CROSSSELL = {"SMS": {**settings.CROSSSELL["SMS"], "TIMEOUT_SECONDS": 0.2}}
    handler.answers["next"] = (201, {}, (FIXTURES / "message_created.json").read_bytes(), 0.8)
    with pytest.raises(TransientSendError, match="Twilio could not be reached"):
        TwilioSmsBackend().send(outgoing())


def test_nothing_listening_is_transient(twilio_settings: dict[str, Any], settings: Any) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeTwilio)
    port = server.server_address[1]
    server.server_close()  # the port is free again: connecting is refused
    settings.CROSSSELL = {"SMS": {**twilio_settings, "BASE_URL": f"http://127.0.0.1:{port}"}}
    with pytest.raises(TransientSendError, match="Twilio could not be reached"):
        TwilioSmsBackend().send(outgoing())


# --- inbound webhook: signatures ------------------------------------------------------------


def test_signature_matches_twilio_documented_example() -> None:
    # The worked example of Twilio's request-validation docs (auth token 12345).
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+14158675309",
        "Digits": "1234",
        "From": "+14158675309",
        "To": "+18005551212",
    }
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert twilio_signature("12345", url, params) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def sign(url: str, params: dict[str, str], token: str = TOKEN) -> str:
    """An independent signer, straight from Twilio's description of the algorithm."""
    data = url + "".join(name + params[name] for name in sorted(params))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


# --- inbound webhook: STOP ------------------------------------------------------------------

NUMBER = "+14155550100"


@pytest.fixture
def withdrawals() -> Iterator[list[dict[str, Any]]]:
    seen: list[dict[str, Any]] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        seen.append(kwargs)

    consent_withdrawn.connect(receiver, dispatch_uid="test_sms_withdrawals")
    yield seen
    consent_withdrawn.disconnect(dispatch_uid="test_sms_withdrawals")


@pytest.fixture
def shoppers(store: Store) -> dict[str, Customer]:
    other_store = Store.objects.create(platform="custom", external_id="second-store", name="Second", currency="EUR")
    customers = {
        "ann": Customer.objects.create(store=store, email="ann@example.com", phone="+1 (415) 555-0100"),
        "ann_elsewhere": Customer.objects.create(store=other_store, email="ann@example.com", phone=" +1.415.555.0100 "),
        "bob": Customer.objects.create(store=store, email="bob@example.com", phone="+1 415 555 0199"),
        "national": Customer.objects.create(store=other_store, email="cy@example.com", phone="415 555 0100"),
        "no_phone": Customer.objects.create(store=store, email="dee@example.com"),
    }
    for customer in customers.values():
        CustomerConsent.objects.create(
            customer=customer,
            channel="sms",
            granted=True,
            source="checkout checkbox",
            recorded_at=NOW - timedelta(days=30),
        )
    customers["ann_elsewhere"].consents.all().delete()  # consent was never recorded in the second store
    return customers


@pytest.fixture
def post_sms(client: Any, twilio_settings: dict[str, Any], django_capture_on_commit_callbacks: Any) -> Any:
    path = reverse("crosssell:sms-inbound")

    def post(body: str, sender: str = NUMBER, signature: str | None = None, **extra: Any) -> Any:
        params = {
            "AccountSid": SID,
            "Body": body,
            "From": sender,
            "MessageSid": "SMbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
            "NumMedia": "0",
            "To": SENDER,
        }
        if signature is None:
            signature = sign(f"http://testserver{path}", params)
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                path,
                urlencode(params),
                content_type="application/x-www-form-urlencoded",
                headers={"X-Twilio-Signature": signature},
                **extra,
            )

    return post


def sms_consent(customer: Customer) -> CustomerConsent | None:
    return CustomerConsent.objects.filter(customer=customer, channel="sms").first()


@time_machine.travel(NOW, tick=False)
def test_stop_withdraws_consent_in_every_store_and_announces_it_once_per_customer(
    post_sms: Any, shoppers: dict[str, Customer], withdrawals: list[dict[str, Any]]
) -> None:
    response = post_sms("STOP")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/xml"
    assert response.content.decode().endswith("<Response/>")
    for name in ("ann", "ann_elsewhere"):
        consent = sms_consent(shoppers[name])
        assert consent is not None
        assert (consent.granted, consent.source, consent.recorded_at) == (False, "sms STOP", NOW)
    for name in ("bob", "national", "no_phone"):
        assert sms_consent(shoppers[name]).granted is True  # type: ignore[union-attr]
    assert sorted(w["customer"].pk for w in withdrawals) == sorted([shoppers["ann"].pk, shoppers["ann_elsewhere"].pk])
    assert all((w["channel"], w["source"]) == ("sms", "sms STOP") for w in withdrawals)


def test_a_repeated_stop_is_announced_only_once(
    post_sms: Any, shoppers: dict[str, Customer], withdrawals: list[dict[str, Any]]
) -> None:
    post_sms("STOP")
    post_sms("unsubscribe")  # or Twilio delivering the same webhook again
    assert len(withdrawals) == 2
    assert sms_consent(shoppers["ann"]).granted is False  # type: ignore[union-attr]


@pytest.mark.parametrize("body", [" stop ", "Stop", "\tQUIT\n", "cancel", "End", "stopall", "UNSUBSCRIBE"])
def test_opt_out_keywords_any_case_and_trimmed(post_sms: Any, shoppers: dict[str, Customer], body: str) -> None:
    assert post_sms(body).status_code == 200
    assert sms_consent(shoppers["ann"]).granted is False  # type: ignore[union-attr]


@pytest.mark.parametrize("body", ["stop please", "STOP!", "Thanks, got it", "", "HELP"])
def test_other_text_changes_nothing(
    post_sms: Any, shoppers: dict[str, Customer], withdrawals: list[dict[str, Any]], body: str
) -> None:
    response = post_sms(body)
    assert response.status_code == 200
    assert response.content.decode().endswith("<Response/>")
    assert sms_consent(shoppers["ann"]).granted is True  # type: ignore[union-attr]
    assert withdrawals == []


@pytest.mark.parametrize("body", ["START", "unstop", " yes "])
def test_start_does_not_grant_marketing_consent(
    post_sms: Any, shoppers: dict[str, Customer], caplog: pytest.LogCaptureFixture, body: str
) -> None:
    post_sms("STOP")
    caplog.set_level(logging.INFO, logger="crosssell_plugin")
    response = post_sms(body)
    assert response.status_code == 200
    assert sms_consent(shoppers["ann"]).granted is False  # type: ignore[union-attr]
    assert sms_consent(shoppers["ann_elsewhere"]).granted is False  # type: ignore[union-attr]
    assert "consent stays as recorded" in caplog.text


def test_start_creates_no_consent_where_there_was_none(post_sms: Any, shoppers: dict[str, Customer]) -> None:
    post_sms("START")
    assert sms_consent(shoppers["ann_elsewhere"]) is None


def test_stop_from_an_unknown_or_non_e164_sender_is_answered_and_ignored(
    post_sms: Any, shoppers: dict[str, Customer], withdrawals: list[dict[str, Any]]
) -> None:
    assert post_sms("STOP", sender="+447700900123").status_code == 200
    assert post_sms("STOP", sender="12345").status_code == 200  # a short code
    assert withdrawals == []
    assert CustomerConsent.objects.filter(granted=False).count() == 0


@pytest.mark.parametrize(
    "signature",
    [
        "",
        "not-a-signature",
        "RSOYDt4T1cUTdK1PDd93/VVr8B8=",
        "é-not-ascii",
    ],
)
def test_bad_or_missing_signature_is_forbidden(
    post_sms: Any, shoppers: dict[str, Customer], withdrawals: list[dict[str, Any]], signature: str
) -> None:
    assert post_sms("STOP", signature=signature).status_code == 403
    assert sms_consent(shoppers["ann"]).granted is True  # type: ignore[union-attr]
    assert withdrawals == []


def test_signature_of_other_params_or_other_token_is_forbidden(post_sms: Any, shoppers: dict[str, Customer]) -> None:
    path = reverse("crosssell:sms-inbound")
    base = {
        "AccountSid": SID,
        "From": NUMBER,
        "MessageSid": "SMbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
        "NumMedia": "0",
        "To": SENDER,
    }
    signed_hello = sign(f"http://testserver{path}", {**base, "Body": "hello"})
    signed_with_other_token = sign(f"http://testserver{path}", {**base, "Body": "STOP"}, token="another-token")
    assert post_sms("STOP", signature=signed_hello).status_code == 403
    assert post_sms("STOP", signature=signed_with_other_token).status_code == 403
    assert sms_consent(shoppers["ann"]).granted is True  # type: ignore[union-attr]


def test_https_url_signed_with_or_without_its_port(post_sms: Any, shoppers: dict[str, Customer]) -> None:
    path = reverse("crosssell:sms-inbound")
    params = {
        "AccountSid": SID,
        "Body": "STOP",
        "From": NUMBER,
        "MessageSid": "SMbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
        "NumMedia": "0",
        "To": SENDER,
    }
    assert post_sms("STOP", signature=sign(f"https://testserver:443{path}", params), secure=True).status_code == 200
    assert post_sms("STOP", signature=sign(f"https://testserver{path}", params), secure=True).status_code == 200
    assert post_sms("STOP", signature=sign(f"http://testserver{path}", params), secure=True).status_code == 403


def test_without_an_auth_token_every_request_is_refused(
    post_sms: Any, shoppers: dict[str, Customer], settings: Any, twilio_settings: dict[str, Any]
) -> None:
    settings.CROSSSELL = {"SMS": {**twilio_settings, "AUTH_TOKEN": ""}}
    assert post_sms("STOP", signature=sign("http://testserver/crosssell/sms/inbound/", {}, token="")).status_code == 403


@pytest.mark.parametrize("method", ["get", "put", "head"])
def test_only_post_is_allowed(client: Any, twilio_settings: dict[str, Any], db: Any, method: str) -> None:
    response = getattr(client, method)(reverse("crosssell:sms-inbound"))
    assert response.status_code == 405
