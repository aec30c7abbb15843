"""Shared facts about the deployment files for the tests in this folder."""

from __future__ import annotations

from pathlib import Path

from smartdeploy.cli import app as cli_app
from smartdeploy.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"

#: ``SMARTDEPLOY_*`` variables the Settings object actually reads.
SETTINGS_ENV = {f"SMARTDEPLOY_{name.upper()}" for name in Settings.model_fields}

#: CLI sub-commands (``smartdeploy worker`` ...).
CLI_COMMANDS = {
    (c.name or c.callback.__name__).replace("_", "-")
    for c in cli_app.registered_commands
    if c.callback is not None
}
