"""Refresh the ConfigMaps of the bundled install from deploy/grafana and deploy/prometheus.

    python deploy/k8s/bundled/sync_configmaps.py

Kustomize cannot read files outside its folder, so grafana.yaml and prometheus.yaml
carry copies; tests/deploy fails while a copy differs from its source file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
DEPLOY = HERE.parents[1]

SOURCES: dict[tuple[str, str], dict[str, Path]] = {
    ("grafana.yaml", "grafana-provisioning"): {
        "datasources.yaml": DEPLOY / "grafana/provisioning/datasources/clickhouse.yaml",
        "dashboards.yaml": DEPLOY / "grafana/provisioning/dashboards/smartdeploy.yaml",
    },
    ("grafana.yaml", "grafana-dashboards"): {
        p.name: p for p in sorted((DEPLOY / "grafana/dashboards").glob("*.json"))
    },
    ("prometheus.yaml", "prometheus-config"): {
        "prometheus.yml": DEPLOY / "prometheus/prometheus-kubernetes.yml",
    },
}


class _Block(str):
    """A string written as a YAML literal block (readable multi-line ConfigMap data)."""


def _block(dumper: yaml.SafeDumper, data: str) -> Any:
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")


yaml.add_representer(_Block, _block, Dumper=yaml.SafeDumper)


def sync() -> list[str]:
    """Rewrite the ConfigMaps whose data differs from the sources; returns files changed."""
    changed = []
    for name in sorted({f for f, _ in SOURCES}):
        path = HERE / name
        text = path.read_text()
        header = text[: text.index("apiVersion")]  # the leading comment block
        docs = [d for d in yaml.safe_load_all(text) if d]
        for doc in docs:
            files = SOURCES.get((name, doc["metadata"]["name"]))
            if doc["kind"] == "ConfigMap" and files is not None:
                doc["data"] = {key: _Block(src.read_text()) for key, src in files.items()}
        new = header + "---\n".join(yaml.safe_dump(d, sort_keys=False, width=100) for d in docs)
        if new != text:
            path.write_text(new)
            changed.append(name)
    return changed


if __name__ == "__main__":
    print("updated:", ", ".join(sync()) or "nothing")
