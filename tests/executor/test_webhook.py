"""Webhook backend: signed POSTs a receiver can verify, retried on 5xx."""

from __future__ import annotations

from collections.abc import Callable

from executor.config import WebhookConfig
from executor.core import Executor
from executor.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookBackend, verify
from tests.executor.conftest import command
from tests.executor.receiver import Receiver

MakeExecutor = Callable[..., Executor]
SECRET = "correct horse battery staple"


def backend(receiver: Receiver, secret: str = SECRET) -> WebhookBackend:
    return WebhookBackend(WebhookConfig(url=receiver.url, secret=secret, timeout_s=5))


def test_signature_verifies_with_the_shared_secret(
    receiver: Receiver, make_executor: MakeExecutor
) -> None:
    result = make_executor(backend(receiver)).handle(command()).result

    assert result.status == "succeeded" and result.backend == "webhook"
    (req,) = receiver.received
    headers = {k.lower(): v for k, v in req.headers.items()}
    ts, sig = headers[TIMESTAMP_HEADER.lower()], headers[SIGNATURE_HEADER.lower()]
    assert verify(SECRET, ts, req.body, sig)
    assert not verify("wrong secret", ts, req.body, sig)
    assert not verify(SECRET, ts, req.body.replace(b"web", b"api"), sig)  # tampered body
    assert headers["idempotency-key"] == "cmd-1"
    assert req.json()["command"]["id"] == "cmd-1"
    assert req.json()["operations"][0]["op"] == "undo"


def test_server_errors_are_retried_then_delivered(
    receiver: Receiver, make_executor: MakeExecutor
) -> None:
    receiver.responses = [(503, {}), (502, {}), (200, {"status": "already_rolled_back"})]
    result = make_executor(backend(receiver)).handle(command()).result

    assert result.status == "already_rolled_back" and result.attempts == 3
    bodies = {r.body for r in receiver.received}
    assert len(receiver.received) == 3 and len(bodies) == 1  # the same operation each time


def test_client_error_fails_without_retry(receiver: Receiver, make_executor: MakeExecutor) -> None:
    receiver.responses = [(400, {"error": "bad"})]
    result = make_executor(backend(receiver)).handle(command()).result
    assert result.status == "failed" and result.attempts == 1 and "400" in result.detail


def test_unreachable_receiver_gives_up_as_failed(make_executor: MakeExecutor) -> None:
    dead = WebhookBackend(WebhookConfig(url="http://127.0.0.1:9/hook", secret=SECRET, timeout_s=1))
    result = make_executor(dead).handle(command()).result
    assert result.status == "failed" and result.attempts == 4
