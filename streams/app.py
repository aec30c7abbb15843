"""The Faust worker: thin agents around ``streams.processor.Processor``.

One agent per input topic (deploy events, metric batches, overrides) parses each
Kafka message into the intake (``streams.intake``), which releases them across
topics in event-time order; the processor applies them to the pipeline, and the
records it returns are queued on the output topics, keyed by app. Bytes in, bytes
out (``raw`` serialisers): our pydantic schemas are the only message models.

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
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import faust

from smartdeploy.kafka_io import ensure_topics, topic_ids
from smartdeploy.settings import Settings
from streams.checkpoint import TP, CheckpointStore, valid_positions
from streams.faust_app import faust_app
from streams.intake import Intake
from streams.persist import CheckpointWriter
from streams.pipeline import Pipeline
from streams.processor import INPUT_TOPICS, InputMessage, Processor
from streams.topics import TopicNames

log = logging.getLogger(__name__)

GROUP = "smartdeploy-streams"
TICK_S = 0.1


def checkpoint_store(settings: Settings) -> CheckpointStore:
    """Where the worker of these settings keeps its checkpoint (the API may read it)."""
    group = TopicNames(settings.kafka_topic_prefix).group(GROUP)
    return CheckpointStore(settings.data_dir / "checkpoints" / f"{group}.ckpt")


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
        self.store = store or checkpoint_store(settings)
        self._factory = pipeline_factory
        self._processor: Processor | None = None
        self._intake: Intake | None = None
        self._app: faust.App | None = None
        self._out: dict[str, Any] = {}
        self._pending: list[asyncio.Future[Any]] = []
        self._writer = CheckpointWriter(self.store, self._commit, self._failed)
        self._ticker: asyncio.Task[None] | None = None
        self._accepting = False
        self.failure: BaseException | None = None

    @property
    def pipeline(self) -> Pipeline:
        """The live pipeline (read it from the same event loop, between messages)."""
        if self._processor is None:
            raise RuntimeError("worker not started")
        return self._processor.pipeline

    @property
    def checkpoints_written(self) -> int:
        return self._writer.written

    @property
    def stats(self) -> dict[str, Any]:
        proc, intake = self._processor, self._intake
        return {
            "running": self._accepting,
            "inputs": proc.inputs if proc else 0,
            "buffered": len(intake.merge) if intake else 0,
            "counts": dict(proc.counts) if proc else {},
            "positions": {f"{t}:{p}": o for (t, p), o in (proc.positions if proc else {}).items()},
            "checkpoints_written": self._writer.written,
            "failure": repr(self.failure) if self.failure else None,
        }

    async def start(self) -> None:
        """Create topics, restore the checkpoint, join the group and start consuming."""
        s = self.settings
        (s.data_dir / "faust").mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(ensure_topics, s, self.names.all(), s.kafka_partitions)
        ids = await asyncio.to_thread(topic_ids, s, [self.names.of(n) for n in INPUT_TOPICS])
        ckpt = await asyncio.to_thread(self.store.load)
        if ckpt is not None:
            ckpt = replace(ckpt, offsets=valid_positions(ckpt.offsets, ckpt.topic_ids, ids))
            log.info("restored checkpoint: %d inputs, %s", ckpt.inputs, dict(ckpt.offsets))
        try:
            self._processor = Processor.resume(
                ckpt, self._factory, self.names, s.model_checkpoint_every
            )
        except Exception as exc:  # e.g. model code changed incompatibly: fail loudly
            raise RuntimeError(
                f"cannot restore the model checkpoint {self.store.path}: {exc!r}; "
                "move the file away to start with fresh models"
            ) from exc
        self._processor.topic_ids = ids
        self._intake = Intake(self._processor)
        self._app = self._build_app()
        # outputs are queued without awaiting (atomic with the state change); allow a
        # burst (a metric batch can yield many windows) before the agent waits
        self._app.producer.buffer.max_messages = 5000
        self._accepting = True
        await self._app.start()
        self._ticker = asyncio.ensure_future(self._tick())

    async def stop(self, checkpoint: bool = True) -> None:
        """Stop consuming, write a final checkpoint (unless failed), leave the group."""
        self._accepting = False
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        proc = self._processor
        if checkpoint and self.failure is None and proc is not None and proc.since_checkpoint:
            try:
                await self.checkpoint()
            except Exception:  # noqa: BLE001 - the last good checkpoint stays valid
                log.exception("final checkpoint failed")
        await self._writer.idle()
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
        """Snapshot now and wait until that checkpoint is persisted."""
        await self._schedule_checkpoint()

    def _schedule_checkpoint(self) -> asyncio.Future[None]:
        """Snapshot synchronously (state, positions and the sends they caused)."""
        assert self._processor is not None
        pending, self._pending = self._pending, []
        return self._writer.schedule(self._processor.checkpoint(), pending)

    def _failed(self, exc: BaseException) -> None:
        if self.failure is None:
            log.error("checkpoint failed; stopping the worker", exc_info=exc)
            self.failure = exc
            self._accepting = False
            if self._app is not None:
                asyncio.ensure_future(self._app.crash(exc))

    async def _commit(self, offsets: Mapping[TP, int]) -> None:
        """Commit the checkpoint's positions to the group (a hint for the next start)."""
        app = self._app
        if app is None or not offsets:
            return
        tps = {faust.types.TP(topic, part): off for (topic, part), off in offsets.items()}
        try:
            # the transport-level commit: Faust's public commit() only commits acked
            # messages, and acks are off for the inputs (see the module docstring)
            await app.consumer._commit(tps)  # type: ignore[attr-defined]
        except Exception:  # noqa: BLE001 - the checkpoint file is authoritative
            log.warning("committing checkpoint offsets failed", exc_info=True)

    def _build_app(self) -> faust.App:
        app = faust_app(self.settings, self.group_id)
        self._out = {
            name: app.topic(name, key_serializer="raw", value_serializer="raw")
            for name in self.names.all()
        }
        app.on_partitions_revoked.connect(self._on_revoked)
        app.on_partitions_assigned.connect(self._on_assigned)
        for logical in INPUT_TOPICS:
            source = app.topic(
                self.names.of(logical), acks=False, key_serializer="raw", value_serializer="raw"
            )
            app.agent(source, name=f"consume-{logical}")(self._agent)
        return app

    def _inputs(self, tps: Any) -> list[TP]:
        names = {self.names.of(n) for n in INPUT_TOPICS}
        return [(tp.topic, tp.partition) for tp in tps or () if tp.topic in names]

    async def _on_assigned(self, _sender: Any, /, *args: Any, **_kw: Any) -> None:
        if self._intake is not None:
            self._intake.assign(self._inputs(args[0] if args else ()))

    async def _on_revoked(self, _sender: Any, /, *args: Any, **_kw: Any) -> None:
        """Checkpoint before a rebalance hands partitions over, so the next owner
        starts where this worker's state ends, then forget what was not applied."""
        revoked = self._inputs(args[0] if args else ())
        proc = self._processor
        if revoked and proc is not None and proc.since_checkpoint and self.failure is None:
            await self.checkpoint()
        if self._intake is not None:
            self._intake.revoke(revoked)

    async def _agent(self, stream: Any) -> None:
        async for event in stream.events():
            if not self._accepting or self._intake is None:
                continue  # not covered by any checkpoint: re-delivered after restart
            m = event.message
            ts = int(m.timestamp * 1000) if m.timestamp else None
            msg = InputMessage(m.topic, m.partition, m.offset, m.key, m.value, ts)
            self._intake.receive(msg, time.monotonic())
            await self._drain()

    def _highwater(self, tp: TP) -> int | None:
        try:
            hw = self._app.consumer.highwater(faust.types.TP(*tp))  # type: ignore[union-attr]
        except Exception:  # noqa: BLE001 - not (yet) assigned / fetched
            return None
        return None if hw is None else int(hw)

    async def _drain(self) -> None:
        """Apply what the intake releases, all without yielding (so partitions keep
        their order and a checkpoint always sees whole inputs), then apply back-pressure."""
        if not self._accepting or self._processor is None or self._intake is None:
            return
        for prepared in self._intake.ready(self._highwater, time.monotonic()):
            for p in self._processor.apply(prepared):
                self._pending.append(self._out[p.topic].send_soon(key=p.key, value=p.value))
            if self._processor.checkpoint_due():
                self._schedule_checkpoint()
        if self._writer.busy():
            await self._writer.idle()  # one checkpoint in flight at a time
        if self._app is not None:
            await self._app.producer.buffer.wait_until_ebb()

    async def _tick(self) -> None:
        """Release what waited long enough, and learn where silent partitions start."""
        while True:
            await asyncio.sleep(TICK_S)
            if self._app is None or self._intake is None:
                continue
            self._intake.tick()
            for tp in self._intake.silent():
                with contextlib.suppress(Exception):
                    pos = await asyncio.wait_for(
                        self._app.consumer.position(faust.types.TP(*tp)), 1.0
                    )
                    if pos is not None:
                        self._intake.started(tp, int(pos))
            await self._drain()


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
