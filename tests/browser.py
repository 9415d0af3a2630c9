"""Shared pieces of the real-browser tests: one Streamlit server, headless Chromium, waiting.

Where no Chromium exists (a student's laptop) the browser tests are skipped with the reason; in
CI (CI=true) a missing browser is a failure.
"""

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def require_browser():
    missing = None
    if CHROMIUM is None:
        missing = "no Chromium found (install it with your package manager, e.g. apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            missing = "playwright is not installed (pip install -r requirements-dev.txt)"
    if missing and os.environ.get("CI"):
        pytest.fail(f"Browser test cannot run in CI: {missing}.")
    if missing:
        pytest.skip(missing)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def streamlit_app(log_path):
    """`streamlit run streamlit_app/app.py` on 127.0.0.1 and a free port; yields its URL."""
    port = free_port()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(ROOT / "streamlit_app" / "app.py"),
             "--server.port", str(port), "--server.address", "127.0.0.1", "--server.headless", "true",
             "--browser.gatherUsageStats", "false"],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(120):
                try:
                    urllib.request.urlopen(url + "/_stcore/health", timeout=1)
                    break
                except OSError:
                    time.sleep(0.5)
            else:
                pytest.fail(f"streamlit did not start within 60 s (see {log_path}).")
            yield url
        finally:
            proc.terminate()
            proc.wait(timeout=20)


@contextlib.contextmanager
def chromium_page(profile_dir):
    """A page of a headless Chromium with a fresh profile (--user-data-dir)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile_dir), executable_path=CHROMIUM, args=FLAGS, headless=True,
            viewport={"width": 1400, "height": 1000},
        )
        try:
            yield context.new_page()
        finally:
            context.close()


def wait_until_rendered(page, timeout_s=120):
    """Rendered = a title is shown and Streamlit's "running" widget has been gone for a second."""
    page.wait_for_selector("h1", timeout=timeout_s * 1000)
    deadline, quiet = time.time() + timeout_s, 0
    while time.time() < deadline:
        running = page.query_selector('[data-testid="stStatusWidget"]') is not None
        quiet = 0 if running else quiet + 1
        if quiet >= 4:
            return
        time.sleep(0.25)
    raise TimeoutError(f"the page was still running after {timeout_s} s")


def exception_boxes(page):
    return page.query_selector_all('[data-testid="stException"]')


def try_good_and_bad_upload(page, url, folder, shown_when_good):
    """Open `url`, choose "Upload an image", upload a random photo, then a file that is no image.

    After the photo the page shows `shown_when_good`; after the bad file, a sentence saying it is
    "not an image"; never an exception box.
    """
    import numpy as np
    from PIL import Image

    good, bad = Path(folder) / "photo.png", Path(folder) / "notes.png"
    Image.fromarray((np.random.default_rng(0).random((90, 120, 3)) * 255).astype("uint8")).save(good)
    bad.write_bytes(b"this is not an image")
    page.goto(url)
    wait_until_rendered(page)
    page.get_by_text("Upload an image").click()
    wait_until_rendered(page)
    for path, expect in ((good, shown_when_good), (bad, "not an image")):
        page.locator('input[type="file"]').set_input_files(str(path))
        page.wait_for_selector(f"text={expect}", timeout=90_000)
        wait_until_rendered(page)
        assert not exception_boxes(page), f"exception box after uploading {path.name}"
