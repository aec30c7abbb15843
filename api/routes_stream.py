"""Server-sent events: every record on the live feed, as it happens, for the UI.

SSE rather than WebSockets because the flow is one-way, proxies and curl
understand it, and the browser's fetch API can send the bearer token (the UI
reads the stream with fetch, so tokens never travel in URLs or access logs).
Each event is ``id: <seq>``, ``event: <record type>``, ``data: <record JSON>``;
a comment line every ``heartbeat_s`` keeps idle connections open.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import StreamingResponse

from api.auth import Principal, require_role
from api.deps import AUTH_ERRORS, ApiDeps, get_deps
from api.live import LiveEvent

router = APIRouter(prefix="/v1", tags=["stream"])

HEARTBEAT_S = 15.0


def format_sse(event: LiveEvent) -> bytes:
    """One SSE frame.

    >>> format_sse(LiveEvent(7, {"type": "verdict", "state": "healthy"}))
    b'id: 7\\nevent: verdict\\ndata: {"type":"verdict","state":"healthy"}\\n\\n'
    """
    data = json.dumps(event.record, separators=(",", ":"), default=str)
    return f"id: {event.seq}\nevent: {event.kind}\ndata: {data}\n\n".encode()


@router.get(
    "/stream",
    summary="Live stream of records (text/event-stream)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}},
                     "description": "SSE frames: id, event (record type), data (record JSON)"},
               **AUTH_ERRORS},
)
async def stream(
    _: Annotated[Principal, Depends(require_role("viewer"))],
    deps: Annotated[ApiDeps, Depends(get_deps)],
    deployment_id: Annotated[str | None, Query(min_length=1, max_length=200,
                                               description="only records of this deployment")]
    = None,
    replay: Annotated[int, Query(ge=0, le=200, description="recent records sent first")] = 0,
    limit: Annotated[int | None, Query(ge=1, le=100_000,
                                       description="close after this many events")] = None,
    last_event_id: Annotated[str, Header(
        alias="Last-Event-ID", pattern=r"^\d{0,18}$",
        description="resume: buffered records after this id are sent first")] = "",
) -> StreamingResponse:
    after = int(last_event_id) if last_event_id else None
    sub = deps.live.subscribe(replay=replay, after=after)

    async def frames() -> AsyncIterator[bytes]:
        sent = 0
        deadline = time.monotonic() + deps.stream_max_s
        try:
            yield b": connected\n\n"
            while (limit is None or sent < limit) and (left := deadline - time.monotonic()) > 0:
                event = await sub.next(min(HEARTBEAT_S, left))
                if event is None:
                    yield b": keepalive\n\n"
                    continue
                if deployment_id and event.record.get("deployment_id") != deployment_id:
                    continue
                yield format_sse(event)
                sent += 1
        finally:
            sub.close()

    return StreamingResponse(frames(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
