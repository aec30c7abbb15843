"""Schemathesis over the API as the embedded stack composes it: our routers plus the
ingest, prediction and strategy routers, on the real pipeline (in-memory store/broker).

The bar for every operation, whoever wrote it: no 5xx for any input and every 4xx
with a ``detail`` reason. (test_schemathesis.py holds our routers to every check.)
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings

from api.live import InMemoryLiveFeed
from smartdeploy.components import model_routers
from smartdeploy.settings import Settings
from smartdeploy.wire_api import build_api
from smartdeploy.wire_ingest import build_router as build_ingest_router
from smartdeploy.wiring import build_pipeline
from tests.api.fakes import FakeHistory, FakePublisher
from tests.api.test_schemathesis import every_4xx_has_a_reason


def _app() -> Any:
    conf = Settings(data_dir=Path(tempfile.mkdtemp(prefix="sd-fuzz-")), api_cache_warm=0,
                    api_stream_max_s=0.05)
    pipeline = build_pipeline(conf)
    history = FakeHistory()
    routers = [(build_ingest_router(conf), None), *model_routers(lambda: pipeline)]
    return build_api(conf, history, FakePublisher(history), routers, InMemoryLiveFeed())


schema = schemathesis.openapi.from_asgi("/openapi.json", _app())


@schema.parametrize()
@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
def test_composed_api_never_fails_and_always_says_why(case: Any) -> None:
    case.call_and_validate(checks=[schemathesis.checks.not_a_server_error,
                                   every_4xx_has_a_reason])
