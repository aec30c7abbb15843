"""KPI policies as code: per-app YAML over global defaults, validated with pydantic.

A policy file looks like::

    defaults:                 # every field of AppPolicy; apps inherit and override
      analysis_interval: 10s
      kpis:
        - name: error_rate
          kind: ratio
          numerator: {metric: http_requests_total, match: {code: "5.."}}
          denominator: {metric: http_requests_total}
          max: 0.05
          max_ratio: 2.0
          for: 30s
    apps:
      checkout:
        bake_time: 10m
        kpis:
          - {name: error_rate, max: 0.01}      # merged over the default KPI of that name
          - {name: queue_depth, kind: gauge_avg, metric: queue_depth, max: 500}

KPI kinds are a small documented set, not PromQL (see ``KpiKind``). Label matchers
are regular expressions with Prometheus ``=~`` semantics (full match). Thresholds
are absolute (``max``/``min``) or relative to the reference track (``max_ratio``,
``min_ratio``, ``max_delta``); ``for`` and ``x_of_y`` make a breach sustained.
Errors name the offending field, e.g. ``apps.checkout.kpis.0.kind: ...``.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from models.kpi_defaults import DEFAULTS
from models.policy_values import Duration, XofY

KpiKind = Literal["ratio", "quantile", "gauge_avg", "counter_rate", "custom"]
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class Selector(_Strict):
    """Series whose name and labels fully match these regular expressions."""

    metric: str = Field(min_length=1)
    match: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _valid_regexes(self) -> Selector:
        for pattern in [self.metric, *self.match.values()]:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from exc
        return self


class KpiPolicy(_Strict):
    """One KPI: how to compute it from series, and when it is in breach."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.:-]+$")
    kind: KpiKind
    enabled: bool = True
    metric: Selector | None = Field(
        default=None, description="the series (for quantile: the _bucket series)"
    )
    numerator: Selector | None = None
    denominator: Selector | None = None
    quantile: float | None = Field(default=None, gt=0.0, lt=1.0)
    aggregate: Literal["mean", "sum", "max", "min", "last"] = Field(
        default="mean", description="how series of one track combine (gauge, counter, custom)"
    )
    window: Duration = 60.0
    direction: Literal["up", "down"] = Field(default="up", description="which way is bad")
    max: float | None = None
    min: float | None = None
    max_ratio: float | None = Field(default=None, gt=0.0)
    min_ratio: float | None = Field(default=None, gt=0.0)
    max_delta: float | None = None
    relative_floor: float = Field(
        default=0.0, ge=0.0, description="relative rules ignore values below this (noise floor)"
    )
    for_: Duration | None = Field(default=None, alias="for")
    x_of_y: XofY = None
    min_samples: int | None = Field(default=None, ge=1)
    count_confidence: float = Field(
        default=0.9999,
        ge=0.0,
        lt=1.0,
        description="ratio and histogram quantile: max/min breach only when the window's "
        "counts put the true ratio/quantile past the threshold at this confidence "
        "(binomial; a quantile counts requests beyond a bucket bound); 0 = value only",
    )
    judge: bool = Field(default=True, description="also run the canary-vs-baseline judge")
    learned: bool = Field(default=True, description="also use the learned anomaly threshold")

    @model_validator(mode="after")
    def _kind_fields(self) -> KpiPolicy:
        if self.kind == "ratio" and (self.numerator is None or self.denominator is None):
            raise ValueError("kind 'ratio' needs 'numerator' and 'denominator'")
        if self.kind != "ratio" and self.metric is None:
            raise ValueError(f"kind {self.kind!r} needs 'metric'")
        if self.kind == "quantile" and self.quantile is None:
            raise ValueError("kind 'quantile' needs 'quantile' (0 < q < 1)")
        if self.window <= 0:
            raise ValueError("window must be > 0")
        return self

    @property
    def has_relative(self) -> bool:
        return any(v is not None for v in (self.max_ratio, self.min_ratio, self.max_delta))


class AnomalyPolicy(_Strict):
    """Learned thresholds: an online per-app×KPI score learned from healthy history."""

    enabled: bool = True
    threshold: float = Field(default=0.999, gt=0.0, le=1.0)
    min_history: int = Field(default=30, ge=1, description="windows learned before it may breach")


class AppPolicy(_Strict):
    """Everything the guard needs for one app."""

    analysis_interval: Duration = 10.0
    resolution: Duration = Field(default=5.0, description="time bucket of the windows")
    bake_time: Duration = 300.0
    min_samples: int = Field(default=3, ge=1)
    inconclusive_limit: int = Field(default=6, ge=0)
    verdict_every: int = Field(default=1, ge=1, description="a Verdict every N intervals")
    judge_confidence: float = Field(default=0.99995, gt=0.5, lt=1.0)
    judge_window: Duration = Field(
        default=600.0, description="longest span the canary judge compares (0 = KPI window)"
    )
    anomaly: AnomalyPolicy = Field(default_factory=AnomalyPolicy)
    shared_breach: Literal["rollback", "hold"] = Field(
        default="rollback",
        description="a canary's max/min breach that its baseline shows too (a shared "
        "dependency outage): roll back, or hold (inconclusive) unless the judge finds the "
        "canary worse than the baseline",
    )
    kpis: list[KpiPolicy] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> AppPolicy:
        if self.analysis_interval < 1 or self.resolution <= 0:
            raise ValueError("analysis_interval must be >= 1s and resolution > 0")
        names = [k.name for k in self.kpis]
        if len(names) != len(set(names)):
            raise ValueError(f"kpis: duplicate KPI names in {names}")
        return self

    @property
    def active_kpis(self) -> list[KpiPolicy]:
        return [k for k in self.kpis if k.enabled]


class PolicyError(ValueError):
    """A policy file is invalid; the message names the file and the field."""


_REPLACED = frozenset({"metric", "numerator", "denominator"})  # selectors: replaced whole


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Deep merge ``over`` into ``base``; KPI lists merge by ``name``; selectors replace.

    >>> _merge({"a": 1, "kpis": [{"name": "x", "max": 1}]}, {"kpis": [{"name": "x", "max": 2}]})
    {'a': 1, 'kpis': [{'name': 'x', 'max': 2}]}
    """
    out = copy.deepcopy(base)
    for key, value in over.items():
        if key == "kpis" and isinstance(value, list) and isinstance(out.get(key), list):
            by_name = {k.get("name"): i for i, k in enumerate(out[key]) if isinstance(k, dict)}
            for kpi in value:
                i = by_name.get(kpi.get("name")) if isinstance(kpi, dict) else None
                if i is None:
                    out[key].append(copy.deepcopy(kpi))
                else:
                    out[key][i] = _merge(out[key][i], kpi)
        elif key in _REPLACED:
            out[key] = copy.deepcopy(value)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _explain(exc: ValidationError, prefix: str, source: str) -> PolicyError:
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in (prefix, *err["loc"]) if p != "")
        lines.append(f"{loc}: {err['msg']}")
    return PolicyError(f"{source}: " + "; ".join(lines))


class PolicySet(BaseModel):
    """Validated policies: the defaults plus per-app overrides (already merged)."""

    model_config = ConfigDict(frozen=True)

    default: AppPolicy
    apps: dict[str, AppPolicy] = Field(default_factory=dict)
    version: str = "builtin"
    strategy_rules: list[dict[str, Any]] | None = Field(
        default=None, description="extra strategy rules, passed to the StrategyRecommender"
    )

    def for_app(self, app: str) -> AppPolicy:
        """The policy of ``app``: its own if configured, else the defaults."""
        return self.apps.get(app, self.default)


def build_policies(doc: dict[str, Any] | None, source: str = "<policies>") -> PolicySet:
    """Validate a parsed policy document (``defaults`` over the built-in, ``apps`` over those).

    >>> ps = build_policies({"apps": {"web": {"kpis": [{"name": "error_rate", "max": 0.01}]}}})
    >>> ps.for_app("web").kpis[0].max, ps.for_app("other").kpis[0].max
    (0.01, 0.05)
    """
    doc = doc or {}
    if not isinstance(doc, dict):
        raise PolicyError(f"{source}: top level must be a mapping with 'defaults' and/or 'apps'")
    unknown = set(doc) - {"defaults", "apps", "version", "strategy_rules"}
    if unknown:
        raise PolicyError(f"{source}: unknown top-level keys {sorted(unknown)}")
    defaults_doc = _merge(DEFAULTS, doc.get("defaults") or {})
    try:
        default = AppPolicy.model_validate(defaults_doc)
    except ValidationError as exc:
        raise _explain(exc, "defaults", source) from exc
    apps: dict[str, AppPolicy] = {}
    apps_doc = doc.get("apps") or {}
    if not isinstance(apps_doc, dict):
        raise PolicyError(f"{source}: apps: must be a mapping of app name to policy")
    for app, over in apps_doc.items():
        try:
            apps[str(app)] = AppPolicy.model_validate(_merge(defaults_doc, over or {}))
        except ValidationError as exc:
            raise _explain(exc, f"apps.{app}", source) from exc
    rules = doc.get("strategy_rules")
    if rules is not None and not (
        isinstance(rules, list) and all(isinstance(r, dict) for r in rules)
    ):
        raise PolicyError(f"{source}: strategy_rules: must be a list of mappings")
    return PolicySet(
        default=default,
        apps=apps,
        version=str(doc.get("version", "builtin")),
        strategy_rules=rules,
    )


def load_policies(path: Path | None) -> PolicySet:
    """Load and validate a policy YAML file; ``None`` gives the built-in defaults."""
    if path is None:
        return build_policies(None, "<builtin>")
    try:
        doc = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise PolicyError(f"{path}: invalid YAML: {exc}") from exc
    return build_policies(doc, str(path))
