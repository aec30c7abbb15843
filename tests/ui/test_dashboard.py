"""Browser test: Debian's headless Chromium (Playwright) drives the dashboard.

Open the dashboard, watch a demo deployment update live (records published
while the page is open), place a hold with a reason, see it in the audit log.
Screenshots go to a temporary directory whose path is printed.
"""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from api.app import create_app
from api.auth import AuthConfig
from api.deps import ApiDeps
from api.live import InMemoryLiveFeed
from tests.api.demo import full_deployment, progress, requested
from tests.api.fakes import FakeHistory, FakePublisher, MemoryPolicyStore
from tests.ui.server import serve

CHROMIUM = os.environ.get("SMARTDEPLOY_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
T0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)

pytestmark = pytest.mark.integration


def _stack() -> tuple[ApiDeps, FakeHistory, InMemoryLiveFeed]:
    history = FakeHistory()
    live = InMemoryLiveFeed()
    for i in range(3):
        for rec in full_deployment(
            f"old-{i}", ["search", "billing", "auth"][i], T0 - timedelta(hours=3 - i)
        ):
            history.add(rec)
    for rec in requested("demo-1", "checkout", T0) + progress(
        "demo-1", "checkout", T0 + timedelta(seconds=20), 1, 20.0, 0.011
    ):
        history.add(rec)
    deps = ApiDeps(
        reader=history,
        publisher=FakePublisher(history, live),
        live=live,
        policies=MemoryPolicyStore(
            "apps:\n  checkout:\n    kpis:\n      - {name: error_rate, max: 0.02}\n"
        ),
        auth=AuthConfig(tokens={"op-token": "operator:olga"}),
    )
    return deps, history, live


def _emit(
    history: FakeHistory, live: InMemoryLiveFeed, step: int, weight: float, value: float
) -> None:
    """What the pipeline would do: store the records and push them onto the live feed."""
    for rec in progress(
        "demo-1",
        "checkout",
        T0 + timedelta(seconds=20 * step),
        step,
        weight,
        value,
        breach=value > 0.05,
    ):
        history.add(rec)
        live.publish(rec.model_dump(mode="json"))


def test_watch_live_hold_and_audit() -> None:
    shots = Path(tempfile.mkdtemp(prefix="smartdeploy-ui-"))
    print(f"\nscreenshots: {shots}")
    deps, history, live = _stack()
    with serve(create_app(deps)) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1360, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.goto(base + "/")
        page.fill("#token-input", "op-token")
        page.click("#token-form button")
        expect(page.locator("#stream-status")).to_have_attribute("data-state", "live")
        # before a token was entered the API rightly answered 401; from now on, no errors
        assert all("401" in e for e in errors), errors
        errors.clear()
        card = page.locator('[data-testid="live-card"][data-deployment="demo-1"]')
        expect(card.get_by_test_id("progress")).to_contain_text("20% traffic")
        assert live.wait_for_subscribers(1, timeout=30)

        _emit(history, live, 2, 40.0, 0.013)
        expect(card.get_by_test_id("progress")).to_contain_text("40% traffic · step 2")
        _emit(history, live, 3, 60.0, 0.071)
        expect(card.get_by_test_id("progress")).to_contain_text("60% traffic · step 3")
        expect(card.get_by_test_id("verdict")).to_have_text("degraded")
        expect(card.get_by_test_id("kpi-last")).to_have_text("0.071")
        expect(page.get_by_test_id("feed")).to_contain_text("verdict")
        page.screenshot(path=str(shots / "1-live.png"), full_page=True)

        card.locator("a.dep-title").click()
        detail = page.get_by_test_id("detail")
        expect(detail).to_have_attribute("data-deployment", "demo-1")
        expect(page.get_by_test_id("p-failure")).to_have_text("31%")
        expect(page.get_by_test_id("verdicts")).to_contain_text("error_rate")
        page.screenshot(path=str(shots / "2-detail.png"), full_page=True)

        page.get_by_test_id("btn-hold").click()
        page.fill("#override-reason", "error rate spike under investigation")
        page.screenshot(path=str(shots / "3-hold-dialog.png"))
        page.click("#override-submit")
        expect(page.get_by_test_id("detail").get_by_test_id("held")).to_be_visible()
        expect(page.get_by_test_id("btn-release")).to_be_enabled()
        expect(page.get_by_test_id("actions")).to_contain_text("override: hold")

        page.click('a[data-nav="audit"]')
        row = page.get_by_test_id("audit-row").first
        expect(row).to_contain_text("override.hold")
        expect(row).to_contain_text("olga")
        expect(row).to_contain_text("error rate spike under investigation")
        expect(row).to_contain_text("deployment/demo-1")
        page.screenshot(path=str(shots / "4-audit.png"), full_page=True)

        page.click('a[data-nav="policies"]')
        expect(page.get_by_test_id("policy-version")).to_be_visible()
        page.screenshot(path=str(shots / "5-policies.png"), full_page=True)
        page.click('a[data-nav="history"]')
        expect(page.get_by_test_id("history-table")).to_contain_text("billing")
        page.screenshot(path=str(shots / "6-history.png"), full_page=True)
        browser.close()
    assert errors == []
    assert sorted(p.name for p in shots.iterdir()) == [
        "1-live.png",
        "2-detail.png",
        "3-hold-dialog.png",
        "4-audit.png",
        "5-policies.png",
        "6-history.png",
    ]
