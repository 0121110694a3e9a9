"""A real-browser screenshot of the dashboard: `streamlit run` on a loopback port, Debian's
chromium driven by the PyPI playwright package (executable_path=/usr/bin/chromium, no browser
download). Skipped, with the reason, where chromium or playwright is missing.

    STUDIO_SCREENSHOT=docs/images/dashboard.png STUDIO_SCREENSHOT_RESULTS=results \
        python -m pytest tests/test_dashboard_browser.py

also copies the screenshot there (the README shows that file); STUDIO_SCREENSHOT_RESULTS points the
dashboard at a results folder (the repository's own) instead of the generated test fixture."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.browser import CHROMIUM, CHROMIUM_ARGS, copy_screenshot, free_port, is_png, needs_chromium, stop, wait_ready
from tests.protocol_fixtures import make_results

ROOT = Path(__file__).resolve().parent.parent
pytestmark = needs_chromium


def test_dashboard_screenshot(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    shown = os.environ.get("STUDIO_SCREENSHOT_RESULTS")
    results = Path(shown).resolve() if shown else make_results(tmp_path / "results")
    port = free_port()
    env = dict(os.environ, STUDIO_RESULTS=str(results), PYTHONPATH=str(ROOT))
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "studio" / "dashboard" / "app.py"), "--server.headless", "true",
         "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    shot = tmp_path / "dashboard.png"
    try:
        wait_ready(f"http://127.0.0.1:{port}/_stcore/health", server, "streamlit", timeout=60)
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"http://127.0.0.1:{port}/", wait_until="networkidle", timeout=60_000)
            page.wait_for_selector('[data-testid="stPlotlyChart"]', timeout=60_000)
            page.wait_for_timeout(1500)  # let plotly finish drawing
            text = page.inner_text("body")
            page.screenshot(path=str(shot), full_page=True)
            browser.close()
    finally:
        stop(server)
    assert "Runs" in text and "Traceback" not in text
    assert is_png(shot, 20_000)
    copy_screenshot(shot)
