"""The web UI: static HTML, JS and CSS shipped inside the package (no build step)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, HTTPException
from fastapi import Path as PathParam
from fastapi.responses import FileResponse

UI_DIR = Path(__file__).parent / "ui"
_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}

#: The UI loads only its own files and talks only to this origin.
SECURITY_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self' "
    "'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

router = APIRouter(include_in_schema=False)


@router.get("/")
def index() -> FileResponse:
    return FileResponse(UI_DIR / "index.html", media_type=_TYPES[".html"],
                        headers=SECURITY_HEADERS)


@router.get("/ui/{name}")
def asset(name: Annotated[str, PathParam(max_length=64, pattern=r"^[\w\-]+\.(js|css|svg)$")]
          ) -> FileResponse:
    path = UI_DIR / name
    if not path.is_file():
        raise HTTPException(status_code=404, detail=f"no UI asset {name!r}")
    return FileResponse(path, media_type=_TYPES[path.suffix], headers=SECURITY_HEADERS)
