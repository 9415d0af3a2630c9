"""Every app page in a real headless Chromium: it renders, has its title, and shows no exception.

Screenshots go to test-artifacts/screenshots/. Where no Chromium exists (a student's laptop) the
test is skipped with the reason; in CI (CI=true) a missing browser is a failure.
"""

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
ARTIFACTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]

sys.path.insert(0, str(ROOT / "streamlit_app"))

pytestmark = pytest.mark.browser


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


@pytest.fixture(scope="module")
def app_url():
    require_browser()
    port = free_port()
    (ROOT / "test-artifacts").mkdir(exist_ok=True)
    log = open(ROOT / "test-artifacts" / "streamlit.log", "w")
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
            pytest.fail("streamlit did not start within 60 s (see test-artifacts/streamlit.log).")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


def page_paths():
    from app import page_title

    pages = [("", "Home", "Vision transformers")]
    for path in sorted((ROOT / "streamlit_app" / "pages").glob("[0-9][0-9]_*.py")):
        pages.append((path.stem[3:], page_title(path), None))
    return pages


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


def test_every_page_renders_in_chromium(app_url, tmp_path):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    failures = []
    with sync_playwright() as pw:
        # a persistent context is how Playwright takes a fresh --user-data-dir
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, args=FLAGS, headless=True,
            viewport={"width": 1400, "height": 1000},
        )
        page = context.new_page()
        for url_path, title, heading in page_paths():
            page.goto(f"{app_url}/{url_path}", wait_until="domcontentloaded")
            try:
                wait_until_rendered(page)
                time.sleep(1.0)  # let charts and images paint before the screenshot
            except Exception as err:  # noqa: BLE001 - collect, then report every page at once
                failures.append(f"{title}: did not render ({err.__class__.__name__})")
            name = url_path or "home"
            page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
            exceptions = page.query_selector_all('[data-testid="stException"]')
            if exceptions:
                failures.append(f"{title}: exception box shown: {exceptions[0].inner_text()[:300]}")
            h1 = page.query_selector("h1")
            if heading and (h1 is None or heading not in h1.inner_text()):
                failures.append(f"{title}: heading {heading!r} not found")
            if title not in page.title() and "teaching kit" not in page.title():
                failures.append(f"{title}: unexpected document title {page.title()!r}")
        context.close()
    assert not failures, "\n".join(failures)
