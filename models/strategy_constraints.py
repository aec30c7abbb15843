"""Hard constraints on deployment strategies: the safety filter applied before any choice.

Every exclusion carries a reason a human can act on. The learned choice in
``models.strategy`` only ever ranks what survives this filter, so no amount of
(mis)learning can pick a strategy that a constraint forbids.

Built-in constraints (thresholds in :class:`ConstraintConfig`):

* compliance-tagged apps (pci, sox, hipaa, ...) never use ``recreate`` (it takes
  the service down and replaces it in one step, with no verified path back);
* ``blue_green`` needs ``resources.spare_capacity`` >= 1.0 (a full second copy);
* ``shadow`` needs ``capabilities.traffic_mirroring``;
* ``risk_tolerance`` < 0.3 excludes ``recreate``;
* ``canary`` needs ``capabilities.traffic_splitting``, or enough replicas that
  the first step can be approximated by replica count (default 5 replicas, so
  the smallest step is 20 % of traffic, which is what Argo Rollouts does without
  a traffic router);
* stateful apps keep one writer per data set (volume, shard, leader) at any
  time: ``canary`` is excluded (it adds new-version pods next to the old ones,
  extra writers on data no pod hands over) and so is ``shadow`` (mirrored
  writes would be applied twice); ``rolling`` stays allowed but is forced to
  ``maxSurge 0, maxUnavailable 1`` (each pod stops before its replacement
  starts and takes over its volume, as a StatefulSet's ordered update does);
  ``blue_green`` stays allowed with an operator-confirmed cutover (green takes
  no traffic, hence no writes, until the switch, and auto-promotion is off);
  ``recreate`` is one writer by construction. Old and new versions still share
  the data store during a roll, so schema changes must be backward compatible
  (expand/contract) - the explanation says so.

Policy files add declarative rules, see :func:`parse_rules`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from schemas import STRATEGIES, DeploymentRequested

DEFAULT_COMPLIANCE_TAGS: frozenset[str] = frozenset(
    {"pci", "pci-dss", "sox", "hipaa", "gdpr", "fedramp", "soc2", "iso27001", "fisma"}
)
STATEFUL_LABEL_VALUES: frozenset[str] = frozenset({"true", "1", "yes"})
_RULE_KEYS = frozenset({"name", "match", "exclude", "reason"})
_MATCH_KEYS = frozenset({"app", "app_type", "environment", "compliance", "labels"})


@dataclass(frozen=True)
class ConstraintConfig:
    """Thresholds of the built-in constraints (settable per installation)."""

    compliance_tags: frozenset[str] = DEFAULT_COMPLIANCE_TAGS
    min_spare_capacity_blue_green: float = 1.0
    min_risk_tolerance_recreate: float = 0.3
    min_replicas_canary_without_splitting: int = 5
    stateful_label: str = "stateful"


@dataclass(frozen=True)
class Rule:
    """A policy-file rule: when every ``match`` condition holds, exclude strategies.

    Conditions: ``app``/``app_type``/``environment`` match any of their listed
    values; ``compliance`` matches when the app carries any listed tag;
    ``labels`` matches when every listed label has the given value.
    """

    name: str
    exclude: tuple[str, ...]
    reason: str
    apps: frozenset[str] = frozenset()
    app_types: frozenset[str] = frozenset()
    environments: frozenset[str] = frozenset()
    compliance: frozenset[str] = frozenset()
    labels: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    def matches(self, req: DeploymentRequested) -> bool:
        """True when the request satisfies every condition of the rule."""
        if self.apps and req.app not in self.apps:
            return False
        if self.app_types and req.app_type not in self.app_types:
            return False
        if self.environments and req.environment not in self.environments:
            return False
        if self.compliance and not self.compliance & {c.strip().lower() for c in req.compliance}:
            return False
        return all(req.labels.get(k) == v for k, v in self.labels)


def _strings(value: Any, where: str) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset({value})
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return frozenset(value)
    raise ValueError(f"{where}: expected a string or a list of strings")


def parse_rules(docs: Sequence[Mapping[str, Any]]) -> list[Rule]:
    """Parse policy-file rules; raise ``ValueError`` naming the offending field.

    >>> [r] = parse_rules([{"name": "no-recreate-prod", "match": {"environment": "production"},
    ...                     "exclude": ["recreate"], "reason": "prod must stay up"}])
    >>> r.exclude, sorted(r.environments)
    (('recreate',), ['production'])
    >>> parse_rules([{"name": "x", "exclude": ["yolo"], "reason": "r"}])
    Traceback (most recent call last):
    ...
    ValueError: rules[0].exclude: unknown strategy 'yolo'
    """
    rules: list[Rule] = []
    for i, doc in enumerate(docs):
        at = f"rules[{i}]"
        if not isinstance(doc, Mapping):
            raise ValueError(f"{at}: expected a mapping")
        unknown = set(doc) - _RULE_KEYS
        if unknown:
            raise ValueError(f"{at}.{sorted(unknown)[0]}: unknown field")
        name = doc.get("name", f"rule-{i}")
        reason = doc.get("reason")
        if not isinstance(name, str) or not name:
            raise ValueError(f"{at}.name: expected a non-empty string")
        if not isinstance(reason, str) or not reason:
            raise ValueError(f"{at}.reason: expected a non-empty string")
        exclude = sorted(_strings(doc.get("exclude"), f"{at}.exclude"))
        if not exclude:
            raise ValueError(f"{at}.exclude: expected at least one strategy")
        for s in exclude:
            if s not in STRATEGIES:
                raise ValueError(f"{at}.exclude: unknown strategy {s!r}")
        match = doc.get("match", {})
        if not isinstance(match, Mapping):
            raise ValueError(f"{at}.match: expected a mapping")
        unknown = set(match) - _MATCH_KEYS
        if unknown:
            raise ValueError(f"{at}.match.{sorted(unknown)[0]}: unknown condition")
        labels = match.get("labels", {})
        if not isinstance(labels, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in labels.items()
        ):
            raise ValueError(f"{at}.match.labels: expected a mapping of strings")
        get = match.get
        rules.append(
            Rule(
                name=name,
                exclude=tuple(exclude),
                reason=reason,
                apps=_strings(get("app", []), f"{at}.match.app"),
                app_types=_strings(get("app_type", []), f"{at}.match.app_type"),
                environments=_strings(get("environment", []), f"{at}.match.environment"),
                compliance=frozenset(
                    c.lower() for c in _strings(get("compliance", []), f"{at}.match.compliance")
                ),
                labels=tuple(sorted(labels.items())),
            )
        )
    return rules


def parse_constraint_config(doc: Mapping[str, Any] | None) -> ConstraintConfig:
    """Built-in thresholds from a policy file section; raise ``ValueError`` naming the field.

    >>> cfg = parse_constraint_config({"compliance_tags": ["pci", "FedRAMP"]})
    >>> sorted(cfg.compliance_tags), cfg.min_replicas_canary_without_splitting
    (['fedramp', 'pci'], 5)
    >>> parse_constraint_config({"min_spare_capacity_blue_green": "lots"})
    Traceback (most recent call last):
    ...
    ValueError: strategy_constraints.min_spare_capacity_blue_green: expected a number
    """
    base = ConstraintConfig()
    if not doc:
        return base
    at = "strategy_constraints"
    values: dict[str, Any] = {}
    for key, value in doc.items():
        if key == "compliance_tags":
            values[key] = frozenset(t.strip().lower() for t in _strings(value, f"{at}.{key}"))
        elif key == "stateful_label":
            if not isinstance(value, str) or not value:
                raise ValueError(f"{at}.{key}: expected a non-empty string")
            values[key] = value
        elif key in ("min_spare_capacity_blue_green", "min_risk_tolerance_recreate"):
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(f"{at}.{key}: expected a number")
            values[key] = float(value)
        elif key == "min_replicas_canary_without_splitting":
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{at}.{key}: expected a positive integer")
            values[key] = value
        else:
            raise ValueError(f"{at}.{key}: unknown field")
    return replace(base, **values)


def compliance_hits(tags: Iterable[str], regulated: frozenset[str]) -> list[str]:
    """The app's tags that denote a regulated scope (``pci-dss:l1`` counts as ``pci``).

    >>> compliance_hits(["PCI-DSS", "team-a", "hipaa:phi"], DEFAULT_COMPLIANCE_TAGS)
    ['PCI-DSS', 'hipaa:phi']
    """
    hits = []
    for tag in tags:
        norm = tag.strip().lower()
        for reg in regulated:
            if norm == reg or (norm.startswith(reg) and norm[len(reg)] in "-_:/."):
                hits.append(tag)
                break
    return hits


def is_stateful(req: DeploymentRequested, cfg: ConstraintConfig) -> bool:
    """Stateful = app_type ``stateful`` or the label ``stateful=true`` (e.g. an API with a DB)."""
    label = req.labels.get(cfg.stateful_label, "").strip().lower()
    return req.app_type == "stateful" or label in STATEFUL_LABEL_VALUES


def excluded_strategies(
    req: DeploymentRequested,
    cfg: ConstraintConfig,
    rules: Sequence[Rule] = (),
) -> dict[str, str]:
    """Every strategy the request may not use, with the first reason found for each."""
    out: dict[str, str] = {}

    def exclude(strategy: str, reason: str) -> None:
        out.setdefault(strategy, reason)

    hits = compliance_hits(req.compliance, cfg.compliance_tags)
    if hits:
        exclude(
            "recreate",
            f"compliance-tagged ({', '.join(hits)}): recreate takes the service "
            "down with no verified way back",
        )
    if req.risk_tolerance < cfg.min_risk_tolerance_recreate:
        exclude(
            "recreate",
            f"risk_tolerance {req.risk_tolerance:g} < "
            f"{cfg.min_risk_tolerance_recreate:g}: recreate means downtime and no "
            "gradual exposure",
        )
    if is_stateful(req, cfg):
        why = "stateful app must keep one writer per data set"
        exclude(
            "canary",
            f"{why}: a canary adds new-version pods beside the old ones on "
            "live traffic, extra writers on data no pod hands over",
        )
        exclude(
            "shadow",
            f"{why}: shadow replays live traffic into the new version, so "
            "every mirrored write would be applied twice",
        )
    if req.resources.spare_capacity < cfg.min_spare_capacity_blue_green:
        exclude(
            "blue_green",
            f"resources.spare_capacity {req.resources.spare_capacity:g} < "
            f"{cfg.min_spare_capacity_blue_green:g}: no room for a full second copy",
        )
    if not req.capabilities.traffic_mirroring:
        exclude("shadow", "capabilities.traffic_mirroring is false: nothing can mirror traffic")
    min_rep = cfg.min_replicas_canary_without_splitting
    if not req.capabilities.traffic_splitting and req.resources.replicas < min_rep:
        exclude(
            "canary",
            f"no traffic_splitting and resources.replicas {req.resources.replicas} "
            f"< {min_rep}: a first step by replica count would exceed "
            f"{100 // max(min_rep, 1)}% of traffic",
        )
    for rule in rules:
        if rule.matches(req):
            for strategy in rule.exclude:
                exclude(strategy, f"policy rule {rule.name!r}: {rule.reason}")
    return {s: out[s] for s in STRATEGIES if s in out}
