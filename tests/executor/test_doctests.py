"""Runs the doctests of executor/ (pytest's testpaths do not include that folder)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["config", "backend", "revisions", "intent", "kube", "webhook", "k8s_deployment"]


@pytest.mark.parametrize("name", MODULES)
def test_module_examples_hold(name: str) -> None:
    module = importlib.import_module(f"executor.{name}")
    failed, attempted = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert attempted > 0 and failed == 0
