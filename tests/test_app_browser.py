"""The studio in a real browser: ``python app.py`` on a loopback port, Debian's chromium driven by the
PyPI playwright package (executable_path=/usr/bin/chromium, no browser download). Loads the page,
picks a sample photo, runs one comparison (after waiting behind another client's, with its place in
the queue shown), and saves a screenshot. Skipped, with the reason, where
chromium or playwright is missing.

    STUDIO_SCREENSHOT=docs/images/studio.png python -m pytest tests/test_app_browser.py

also copies the screenshot there (docs/studio.md shows that file)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.browser import CHROMIUM, CHROMIUM_ARGS, copy_screenshot, free_port, is_png, needs_chromium, stop, wait_ready

ROOT = Path(__file__).resolve().parent.parent
pytestmark = needs_chromium


def test_studio_page_runs_a_comparison(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    port = free_port()
    env = dict(os.environ, GRADIO_SERVER_PORT=str(port), GRADIO_ANALYTICS_ENABLED="False", PYTHONPATH=str(ROOT),
               STUDIO_RUN_DIR=str(tmp_path / "runs"))
    server = subprocess.Popen([sys.executable, str(ROOT / "app.py")], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    shot = tmp_path / "studio.png"
    try:
        wait_ready(f"http://127.0.0.1:{port}/config", server, "app.py")
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1440, "height": 1100})
            errors = []
            page.on("pageerror", lambda err: errors.append(str(err)))
            page.goto(f"http://127.0.0.1:{port}/", wait_until="networkidle", timeout=60_000)
            page.get_by_role("tab", name="Super-resolution").click(timeout=30_000)
            # pick the first sample photo of the tab (Set5 butterfly); its size appears under the preview
            page.locator(".thumbnail-item:visible").first.click()
            page.get_by_text("256×256 px", exact=False).first.wait_for(timeout=30_000)
            # two other users' slow comparisons hold the model slot: this page must show its place in the queue
            from gradio_client import Client, handle_file

            slow = (handle_file(str(ROOT / "data" / "samples" / "skimage_chelsea.png")),
                    "Clean photo: degrade it, restore it, score against it", ["wiener-blind"], 0, "linear", 9, 45,
                    0.0, 61)
            ahead = [Client(f"http://127.0.0.1:{port}/", verbose=False).submit(*slow, api_name="/compare_deblur")
                     for _ in range(2)]
            while ahead[0].status().code.name not in ("PROCESSING", "FINISHED"):
                page.wait_for_timeout(50)
            page.get_by_role("button", name="Compare", exact=True).locator("visible=true").first.click()
            queued = []
            while not queued and not ahead[1].done():
                queued = [line for line in page.inner_text("body").splitlines() if line.startswith("queue: ")]
                page.wait_for_timeout(100)
            for job in ahead:
                job.result()
            page.get_by_text("Highest fidelity here", exact=False).first.wait_for(timeout=120_000)
            page.get_by_text("srgan-v3 · PSNR-Y", exact=False).first.wait_for(timeout=30_000)
            page.wait_for_timeout(1500)  # let the images and plots paint
            text = page.inner_text("body")
            page.evaluate("window.scrollTo(0, 0)")
            page.wait_for_timeout(300)
            page.screenshot(path=str(shot), full_page=False)
            page.screenshot(path=str(tmp_path / "studio_full.png"), full_page=True)
            browser.close()
    finally:
        stop(server)
    assert queued and queued[0].split("|")[0].strip() in ("queue: 1/2", "queue: 2/2", "queue: 1/1"), queued
    assert "Clean-photo mode" in text and "Traceback" not in text and "Error" not in text.split("Error maps")[0]
    assert not errors, errors
    assert is_png(shot, 50_000)
    copy_screenshot(shot)


def test_every_tab_is_one_tap_away_on_a_phone(tmp_path):
    """At 390x844 (a phone), the tabs that do not fit on the first line wrap below it instead of
    hiding behind a "more" menu: each is visible and opens with one tap."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    port = free_port()
    env = dict(os.environ, GRADIO_SERVER_PORT=str(port), GRADIO_SERVER_NAME="127.0.0.1",
               STUDIO_RUN_DIR=str(tmp_path / "runs"))
    server = subprocess.Popen([sys.executable, str(ROOT / "app.py")], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    opened = {}
    try:
        wait_ready(f"http://127.0.0.1:{port}/config", server, "app.py")
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True)
            page.goto(f"http://127.0.0.1:{port}/", wait_until="networkidle", timeout=60_000)
            page.screenshot(path=str(tmp_path / "phone.png"))
            for name in ("Super-resolution", "Deblurring", "Benchmark", "Models", "Restoration"):
                tab = page.locator(".tab-wrapper [role=tablist] button, .tab-wrapper .overflow-dropdown button",
                                   has_text=name).first
                visible = tab.is_visible()
                tab.tap(timeout=10_000)
                selected = page.locator("[role=tab][aria-selected=true]")
                try:
                    selected.filter(has_text=name).first.wait_for(timeout=10_000)
                except sync_api.TimeoutError:
                    pass  # the assertion below names the tab that did not open
                opened[name] = (visible, selected.first.inner_text().strip())
            browser.close()
    finally:
        stop(server)
    assert opened == {name: (True, name) for name in opened}, opened
    assert is_png(tmp_path / "phone.png", 10_000)
