"""Export every message model as JSON Schema into ``schemas/json/`` (``make schemas``).

The committed files are checked against a fresh export by a test, so a schema
change without ``make schemas`` fails CI.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from schemas import ALL_MODELS

JSON_DIR = Path(__file__).resolve().parent / "json"


def render_all() -> dict[str, str]:
    """File name → JSON text for every model, deterministic (sorted keys, trailing newline)."""
    out: dict[str, str] = {}
    for name, model in sorted(ALL_MODELS.items()):
        schema = model.model_json_schema(mode="validation")
        schema["$id"] = f"https://smartdeploy.dev/schemas/v{schema_version(model)}/{name}.json"
        out[f"{name}.json"] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return out


def schema_version(model: type) -> int:
    field = model.model_fields["schema_version"]  # type: ignore[attr-defined]
    return int(field.default)


def main(target: Path = JSON_DIR) -> int:
    target.mkdir(parents=True, exist_ok=True)
    rendered = render_all()
    for stale in target.glob("*.json"):
        if stale.name not in rendered:
            stale.unlink()
    for fname, text in rendered.items():
        (target / fname).write_text(text, encoding="utf-8")
    print(f"wrote {len(rendered)} JSON Schemas to {target}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
