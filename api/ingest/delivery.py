"""Kafka producer edge: hand batches to the producer and learn when Kafka acknowledged them.

confluent-kafka calls delivery callbacks only from ``poll()``/``flush()``; a daemon
thread polls (the call waits in C without holding the GIL) and completes one asyncio
future per request once every batch of that request is acknowledged, so the event
loop never blocks on Kafka.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any, Protocol


class Producer(Protocol):
    """The part of ``confluent_kafka.Producer`` the ingest uses (fakes implement it in tests)."""

    def produce(
        self, topic: str, *, value: bytes, key: bytes, on_delivery: Callable[[Any, Any], None]
    ) -> None: ...

    def poll(self, timeout: float) -> int: ...

    def flush(self, timeout: float) -> int: ...


class QueueFull(Exception):
    """The producer's local queue is full (confluent-kafka's BufferError): answer 503."""


class DeliveryFailed(Exception):
    """Kafka did not acknowledge a batch (or not in time): answer 503, Prometheus retries."""


class DeliveryPump:
    """Produces a request's batches and awaits their acks; polls the producer in a thread."""

    def __init__(self, producer: Producer, poll_interval_s: float = 0.05) -> None:
        self.producer = producer
        self._interval = poll_interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _ensure_thread(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._run, name="ingest-kafka-poll", daemon=True
                    )
                    self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.producer.poll(self._interval)

    def close(self, timeout_s: float = 10.0) -> None:
        """Stop polling, flush what is still queued, and let go of the producer.

        Without the last reference the client is destroyed now (connections closed),
        not at some later garbage collection while it keeps reconnecting to a broker
        that may be gone. A request arriving after this gets a 503 (queue full).
        """
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
        self.producer.flush(timeout_s)
        self.producer = _Closed()

    def send(self, topic: str, messages: list[tuple[bytes, bytes]]) -> asyncio.Future[None]:
        """Queue (key, value) messages; the future completes when all are acknowledged.

        Raises QueueFull when the producer refuses a message. Messages queued before
        the refusal still go out: the retried request re-sends them with the same
        batch ids, which the history store deduplicates.
        """
        self._ensure_thread()
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        if not messages:
            fut.set_result(None)
            return fut
        state = {"pending": len(messages), "error": None}

        def done(err: Any, _msg: Any) -> None:  # pump thread (or a flush in close())
            if err is not None and state["error"] is None:
                state["error"] = err
            state["pending"] -= 1  # type: ignore[operator]
            if state["pending"] == 0:
                loop.call_soon_threadsafe(_finish, fut, state["error"])

        for key, value in messages:
            try:
                self.producer.produce(topic, value=value, key=key, on_delivery=done)
            except BufferError as exc:
                raise QueueFull(str(exc) or "producer queue full") from exc
        return fut


class _Closed:
    """The producer after ``close()``: refuses messages like a full queue."""

    def produce(
        self, topic: str, *, value: bytes, key: bytes, on_delivery: Callable[[Any, Any], None]
    ) -> None:
        raise BufferError("the ingest is shutting down")

    def poll(self, timeout: float) -> int:
        return 0

    def flush(self, timeout: float) -> int:
        return 0


def _finish(fut: asyncio.Future[None], error: Any) -> None:
    if fut.done():  # the request timed out and went away
        return
    if error is None:
        fut.set_result(None)
    else:
        fut.set_exception(DeliveryFailed(str(error)))
