"""The Faust worker: thin agents around ``streams.processor.Processor``.

One agent per input topic (deploy events, metric batches, overrides) hands each
Kafka message to the processor and queues what it returns on the output topics,
keyed by app. Bytes in, bytes out (``raw`` serialisers): our pydantic schemas are
the only message models.

Offsets: the input topics run with Faust acks disabled, so Faust never commits
them. The worker commits them itself, right after writing a checkpoint (model
state + the positions it covers, see ``streams.checkpoint``). A checkpoint is
written only after every output of the inputs it covers is acknowledged by
Kafka. So after a crash the worker restores the state, re-reads from the
committed offsets (never ahead of the checkpoint), skips what the state already
covers and re-processes the rest exactly once; the re-published outputs carry the
same deterministic ids, and downstream dedups them.

``build_worker`` returns a handle usable inside a running event loop (the embedded
stack runs it next to uvicorn); ``run_worker_forever`` is the standalone process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import ssl
from collections.abc import Callable, Mapping
from typing import Any

import faust
from confluent_kafka import Consumer, TopicPartition

from smartdeploy.kafka_io import client_config, ensure_topics
from smartdeploy.settings import Settings
from streams.checkpoint import TP, CheckpointStore, valid_positions
from streams.pipeline import Pipeline
from streams.processor import INPUT_TOPICS, InputMessage, Processor
from streams.topics import TopicNames

log = logging.getLogger(__name__)

GROUP = "smartdeploy-streams"


def faust_credentials(settings: Settings) -> Any:
    """Faust's form of the Kafka security settings (None for PLAINTEXT)."""
    proto = settings.kafka_security_protocol
    ctx = ssl.create_default_context() if proto.endswith("SSL") else None
    if proto.startswith("SASL"):
        password = settings.kafka_sasl_password
        return faust.SASLCredentials(
            username=settings.kafka_sasl_username,
            password=password.get_secret_value() if password else None,
            mechanism=settings.kafka_sasl_mechanism or "PLAIN",
            ssl_context=ctx,
        )
    return ctx


def high_watermarks(settings: Settings, tps: list[TP]) -> dict[TP, int]:
    """End offset of each partition (blocking; run in a thread)."""
    if not tps:
        return {}
    consumer = Consumer({**client_config(settings), "group.id": "smartdeploy-watermarks"})
    try:
        known = consumer.list_topics(timeout=10).topics
        out: dict[TP, int] = {}
        for topic, partition in tps:
            if topic not in known:
                out[(topic, partition)] = 0
                continue
            _low, high = consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=10
            )
            out[(topic, partition)] = int(high)
        return out
    finally:
        consumer.close()


class WorkerHandle:
    """A Faust worker inside the caller's event loop: ``await start()`` / ``await stop()``."""

    def __init__(
        self,
        settings: Settings,
        pipeline_factory: Callable[[], Pipeline],
        store: CheckpointStore | None = None,
    ) -> None:
        self.settings = settings
        self.names = TopicNames(settings.kafka_topic_prefix)
        self.group_id = self.names.group(GROUP)
        self.store = store or CheckpointStore(
            settings.data_dir / "checkpoints" / f"{self.group_id}.ckpt"
        )
        self._factory = pipeline_factory
        self._processor: Processor | None = None
        self._app: faust.App | None = None
        self._out: dict[str, Any] = {}
        self._pending: list[asyncio.Future[Any]] = []
        self._lock = asyncio.Lock()
        self._accepting = False
        self.failure: BaseException | None = None
        self.checkpoints_written = 0

    # ------------------------------------------------------------------ state
    @property
    def pipeline(self) -> Pipeline:
        """The live pipeline (read it from the same event loop, between messages)."""
        if self._processor is None:
            raise RuntimeError("worker not started")
        return self._processor.pipeline

    @property
    def stats(self) -> dict[str, Any]:
        proc = self._processor
        return {
            "running": self._accepting,
            "inputs": proc.inputs if proc else 0,
            "counts": dict(proc.counts) if proc else {},
            "positions": {f"{k[0]}:{k[1]}": v for k, v in (proc.positions if proc else {}).items()},
            "checkpoints_written": self.checkpoints_written,
            "failure": repr(self.failure) if self.failure else None,
        }

    # -------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        """Create topics, restore the checkpoint, join the group and start consuming."""
        s = self.settings
        await asyncio.to_thread(ensure_topics, s, self.names.all(), s.kafka_partitions)
        ckpt = await asyncio.to_thread(self.store.load)
        if ckpt is not None:
            highs = await asyncio.to_thread(high_watermarks, s, list(ckpt.offsets))
            ckpt = type(ckpt)(ckpt.blob, valid_positions(ckpt.offsets, highs), ckpt.inputs)
            log.info("restored checkpoint: %d inputs, %d positions", ckpt.inputs, len(ckpt.offsets))
        self._processor = Processor.resume(
            ckpt, self._factory, self.names, s.model_checkpoint_every
        )
        self._app = self._build_app()
        self._accepting = True
        await self._app.start()

    async def stop(self, checkpoint: bool = True) -> None:
        """Stop consuming, write a final checkpoint (unless failed), leave the group."""
        self._accepting = False
        if checkpoint and self.failure is None and self._processor is not None:
            try:
                await self.checkpoint()
            except Exception:  # noqa: BLE001 - the last good checkpoint stays valid
                log.exception("final checkpoint failed")
        if self._app is not None:
            await self._app.stop()

    async def wait(self) -> None:
        """Return when the Faust app stopped or crashed (``failure`` tells which)."""
        app = self._app
        while app is not None and not app.should_stop and self.failure is None:
            await asyncio.sleep(0.5)
        if app is not None and app.crashed and self.failure is None:
            self.failure = app.crash_reason

    async def checkpoint(self) -> None:
        """Snapshot now; persist once every output it covers is acknowledged."""
        assert self._processor is not None
        async with self._lock:
            ckpt = self._processor.checkpoint()
            pending, self._pending = self._pending, []
            if pending:
                await asyncio.gather(*pending)
            await asyncio.to_thread(self.store.save, ckpt)
            self.checkpoints_written += 1
            await self._commit(ckpt.offsets)

    # ------------------------------------------------------------------ Faust
    def _build_app(self) -> faust.App:
        s = self.settings
        session_s = s.kafka_session_timeout_ms / 1000
        brokers = [f"kafka://{h.strip()}" for h in (s.kafka_bootstrap or "").split(",") if h]
        app = faust.App(
            self.group_id,
            broker=brokers,
            broker_credentials=faust_credentials(s),
            datadir=str((s.data_dir / "faust").resolve()),
            web_enabled=False,
            topic_disable_leader=True,
            topic_partitions=s.kafka_partitions,
            topic_replication_factor=s.kafka_replication_factor,
            broker_session_timeout=session_s,
            broker_heartbeat_interval=max(session_s / 5, 0.3),
            consumer_auto_offset_reset="earliest",
            producer_acks=-1,
            stream_wait_empty=False,
        )
        raw = {"key_serializer": "raw", "value_serializer": "raw"}
        self._out = {name: app.topic(name, **raw) for name in self.names.all()}
        for logical in INPUT_TOPICS:
            source = app.topic(self.names.of(logical), acks=False, **raw)
            app.agent(source, name=f"consume-{logical}")(self._agent)
        return app

    async def _agent(self, stream: Any) -> None:
        async for event in stream.events():
            if not self._accepting or self.failure is not None:
                continue  # not covered by any checkpoint: re-delivered after restart
            await self._on_message(event.message)

    async def _on_message(self, m: Any) -> None:
        assert self._processor is not None and self._app is not None
        ts = int(m.timestamp * 1000) if m.timestamp else None
        msg = InputMessage(m.topic, m.partition, m.offset, m.key, m.value, ts)
        for p in self._processor.process(msg):
            self._pending.append(self._out[p.topic].send_soon(key=p.key, value=p.value))
        if self._processor.checkpoint_due():
            try:
                await self.checkpoint()
            except Exception as exc:  # noqa: BLE001 - stop before the state runs ahead
                log.exception("checkpoint failed; stopping the worker")
                self.failure = exc
                self._accepting = False
                await self._app.crash(exc)
                return
        await self._app.producer.buffer.wait_until_ebb()

    async def _commit(self, offsets: Mapping[TP, int]) -> None:
        """Commit the checkpoint's positions to the group (a hint for the next start)."""
        app = self._app
        if app is None or not offsets:
            return
        tps = {faust.types.TP(topic, part): off for (topic, part), off in offsets.items()}
        try:
            await app.consumer._commit(tps)
        except Exception:  # noqa: BLE001 - the checkpoint file is authoritative
            log.warning("committing checkpoint offsets failed", exc_info=True)


def build_worker(settings: Settings, pipeline_factory: Callable[[], Pipeline]) -> WorkerHandle:
    """The worker for ``smartdeploy up`` (call ``await handle.start()`` inside the loop)."""
    return WorkerHandle(settings, pipeline_factory)


def run_worker_forever(settings: Settings, pipeline_factory: Callable[[], Pipeline]) -> int:
    """``smartdeploy worker``: run until SIGINT/SIGTERM (clean stop) or a crash (exit 1)."""

    async def main() -> int:
        handle = build_worker(settings, pipeline_factory)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await handle.start()
        waiter = asyncio.ensure_future(handle.wait())
        stopper = asyncio.ensure_future(stop.wait())
        await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        for task in (waiter, stopper):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await handle.stop()
        return 1 if handle.failure else 0

    return asyncio.run(main())
