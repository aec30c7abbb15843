"""``python -m tests.runtime.worker_main``: the standalone worker over the fake models.

Configured by ``SMARTDEPLOY_*`` env vars like the real ``smartdeploy worker``; the
restart test runs it as a subprocess so it can SIGKILL it between checkpoints.
"""

from __future__ import annotations

import logging
import sys

from smartdeploy.settings import Settings
from streams.app import run_worker_forever
from tests.runtime.fakes import fake_pipeline

if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    sys.exit(run_worker_forever(Settings(), fake_pipeline))
