"""Label selectors, matched the way the API server matches them (pure)."""

from __future__ import annotations

from collections.abc import Mapping

from kubemaint_operator.model import LabelSelector, MaintenanceSpec, Requirement

__all__ = ["NAME_LABEL", "matches", "selector_of"]

NAME_LABEL = "app.kubernetes.io/name"
"""Pods of ``spec.service`` when the object names no selector: ``app.kubernetes.io/name=<service>``."""


def selector_of(spec: MaintenanceSpec) -> LabelSelector:
    """The pods a Maintenance gates: its own selector, else the service's name label."""
    if spec.selector is not None:
        return spec.selector
    return LabelSelector(match_labels=((NAME_LABEL, spec.service),))


def matches(selector: LabelSelector, labels: Mapping[str, str]) -> bool:
    """True when every ``matchLabels`` pair and every expression holds (an empty selector selects all)."""
    if any(labels.get(key) != value for key, value in selector.match_labels):
        return False
    return all(_holds(requirement, labels) for requirement in selector.match_expressions)


def _holds(requirement: Requirement, labels: Mapping[str, str]) -> bool:
    present = requirement.key in labels
    if requirement.operator == "Exists":
        return present
    if requirement.operator == "DoesNotExist":
        return not present
    if requirement.operator == "In":
        return present and labels[requirement.key] in requirement.values
    if requirement.operator == "NotIn":
        return not present or labels[requirement.key] not in requirement.values
    return False
