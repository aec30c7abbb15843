"""``python -m tests.runtime.worker_main``: the standalone worker for the restart tests.

Configured by ``SMARTDEPLOY_*`` env vars like the real ``smartdeploy worker``;
``SMARTDEPLOY_TEST_MODELS=real`` runs the real models, anything else the fakes.
"""

from __future__ import annotations

import logging
import os
import sys

from smartdeploy.settings import Settings
from smartdeploy.wiring import build_pipeline
from streams.app import run_worker_forever
from tests.runtime.fakes import fake_pipeline

if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    settings = Settings()
    real = os.environ.get("SMARTDEPLOY_TEST_MODELS") == "real"
    factory = (lambda: build_pipeline(settings)) if real else fake_pipeline
    sys.exit(run_worker_forever(settings, factory))
