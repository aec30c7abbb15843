"""Values of policy fields written the way people write them: durations and ``x_of_y``.

Kept apart from the policy models (models/policy.py) so that those read as the schema.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: Any) -> float:
    """Seconds from ``30s``/``5m``/``1h``/``250ms`` or a number of seconds.

    >>> parse_duration("5m"), parse_duration(30), parse_duration("250ms")
    (300.0, 30.0, 0.25)
    """
    if isinstance(value, bool):
        raise ValueError("duration must be a number of seconds or like '30s', '5m'")
    if isinstance(value, (int, float)):
        return float(value)
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*", str(value))
    if not match:
        raise ValueError(f"invalid duration {value!r}: use a number of seconds or like '30s', '5m'")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


def _parse_x_of_y(value: Any) -> tuple[int, int] | None:
    if value is None:
        return None
    if isinstance(value, str):
        parts = value.replace(" ", "").split("/")
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            raise ValueError(f"invalid x_of_y {value!r}: use 'x/y' like '3/5'")
        value = (int(parts[0]), int(parts[1]))
    x, y = (int(v) for v in value)
    if not 1 <= x <= y <= 1000:
        raise ValueError("x_of_y needs 1 <= x <= y <= 1000")
    return x, y


Duration = Annotated[float, BeforeValidator(parse_duration), Field(ge=0)]
XofY = Annotated[tuple[int, int] | None, BeforeValidator(_parse_x_of_y)]
