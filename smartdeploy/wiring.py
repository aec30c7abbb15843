"""Builds the pure processors from settings: the one place models meet configuration."""

from __future__ import annotations

import logging
from pathlib import Path

from smartdeploy.settings import Settings
from streams.pipeline import Pipeline

log = logging.getLogger("smartdeploy.wiring")


def build_pipeline(settings: Settings) -> Pipeline:
    """A fresh pipeline: success model, strategy policy and KPI guard with the policies file."""
    from models.guard import DeploymentGuard
    from models.policy import load_policies
    from models.prediction import SuccessPredictor
    from models.strategy import StrategyRecommender

    policies = load_policies(policies_file(settings))
    extra_rules = getattr(policies, "strategy_rules", None)
    return Pipeline(
        SuccessPredictor(),
        StrategyRecommender(extra_rules=extra_rules),
        DeploymentGuard(policies),
    )


def policies_file(settings: Settings) -> Path | None:
    """The policies the worker loads: the configured file, else the one the API edits."""
    if settings.policies_file is not None:
        return settings.policies_file
    edited = settings.data_dir / "policies.yaml"
    return edited if edited.exists() else None


def latest_checkpoint_pipeline(settings: Settings) -> Pipeline | None:
    """The worker's pipeline as of its newest checkpoint under ``data_dir``, if readable."""
    from streams.app import checkpoint_store
    from streams.checkpoint import CheckpointError

    try:
        ckpt = checkpoint_store(settings).load()
    except (CheckpointError, OSError) as exc:
        log.warning("cannot read the worker checkpoint: %s", exc)
        return None
    return Pipeline.restore(ckpt.blob) if ckpt is not None else None
