"""Every app page in a real headless Chromium: it renders, has its title, and shows no exception.

Screenshots go to test-artifacts/screenshots/. The server, the browser and the wait are shared with
the pages' own browser tests (tests/browser.py, fixtures in conftest.py).
"""

import time
from pathlib import Path

import pytest
from browser import exception_boxes, wait_until_rendered

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts" / "screenshots"

pytestmark = pytest.mark.browser


def page_paths():
    import sys

    sys.path.insert(0, str(ROOT / "streamlit_app"))
    from app import page_title

    pages = [("", "Home", "Vision transformers")]
    for path in sorted((ROOT / "streamlit_app" / "topics").glob("[0-9][0-9]_*.py")):
        pages.append((path.stem[3:], page_title(path), None))
    return pages


def test_every_page_renders_in_chromium(app_url, browser_page):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page, failures = browser_page, []
    for url_path, title, heading in page_paths():
        page.goto(f"{app_url}/{url_path}", wait_until="domcontentloaded")
        try:
            wait_until_rendered(page)
            time.sleep(1.0)  # let charts and images paint before the screenshot
        except Exception as err:  # noqa: BLE001 - collect, then report every page at once
            failures.append(f"{title}: did not render ({err.__class__.__name__})")
        page.screenshot(path=str(ARTIFACTS / f"{url_path or 'home'}.png"), full_page=True)
        boxes = exception_boxes(page)
        if boxes:
            failures.append(f"{title}: exception box shown: {boxes[0].inner_text()[:300]}")
        h1 = page.query_selector("h1")
        if heading and (h1 is None or heading not in h1.inner_text()):
            failures.append(f"{title}: heading {heading!r} not found")
        if title not in page.title() and "teaching kit" not in page.title():
            failures.append(f"{title}: unexpected document title {page.title()!r}")
    assert not failures, "\n".join(failures)


def test_a_page_opened_by_its_url_keeps_the_apps_navigation(app_url, tmp_path):
    """A bookmarked page (fresh browser, no visit to Home first) gets the app's titles and layout.

    With the page files in a folder named `pages/`, Streamlit served such a visit its older
    file-based navigation: lower-case file names in the sidebar and none of app.py's settings.
    """
    from browser import chromium_page

    with chromium_page(tmp_path / "fresh") as page:
        page.goto(f"{app_url}/attention_maps", wait_until="domcontentloaded")
        wait_until_rendered(page)
        sidebar = page.locator('[data-testid="stSidebarNav"]').inner_text()
        assert "Home" in sidebar and "Attention maps" in sidebar, sidebar
        assert "teaching kit" in page.title()
        assert "Attention maps" in page.query_selector("h1").inner_text()
