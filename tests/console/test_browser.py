"""End to end in a real headless Chromium: `admit serve examples/seed` with TLS and the console;
the origin's three pods go to /validate and their decisions appear live on the start page;
every page opens; the playground reproduces a denial. Screenshots go to docs/console-*.png.

Needs Debian's chromium and Playwright for Python (never `playwright install`):
    apt-get install -y chromium && pip install playwright
"""

import json
import os
import shutil
import time
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import ROOT, SEED
from tests.server.harness import free_port, once, start_server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright is missing: pip install playwright"
)
if not Path(CHROMIUM).exists():
    pytest.skip("Chromium is missing: apt-get install -y chromium", allow_module_level=True)

ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]  # fmt: skip
DOCS = ROOT / "docs"
REPO = "nginx:1.21.1 repo not start with 192.168.64.1"
TAG = "192.168.64.1:5000/nginx:latest tag end with :latest"


def wait_for_console(url, timeout=20):
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{url}/api/status", timeout=2) as r:
                return json.load(r)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("console")
    port = free_port()
    # a bundle path relative to the repository, as a user types it (it shows on the pages)
    server = start_server(SEED.relative_to(ROOT), tmp, "--console-port", str(port), workers=2)
    url = f"http://127.0.0.1:{port}"
    wait_for_console(url)
    yield server, url
    assert server.stop() == 0


@pytest.fixture(scope="module")
def page(served):
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1360, "height": 860})
        page.set_default_timeout(15000)
        page.elsewhere = []
        page.errors = []
        page.on(
            "request",
            lambda r: None if r.url.startswith(served[1]) else page.elsewhere.append(r.url),
        )
        page.on("pageerror", lambda e: page.errors.append(str(e)))
        yield page
        browser.close()


def shot(page, name):
    """Screenshots go to docs/ when ADMIT_SCREENSHOTS=1 (to refresh them), else nowhere."""
    if os.environ.get("ADMIT_SCREENSHOTS") == "1":
        DOCS.mkdir(exist_ok=True)
        page.screenshot(path=str(DOCS / f"console-{name}.png"), full_page=True)
    else:
        page.screenshot()  # still renders the page


def test_the_start_page_streams_the_origins_decisions_live(served, page):
    server, url = served
    assert "admit: console on " + url in server.stderr()
    page.goto(url + "/")
    page.locator("#home-policies").get_by_text("trusted_registry").wait_for()
    page.locator("#live.on").wait_for()  # the event stream is connected before we send
    for name in ("pod-bad-repo.json", "pod-bad-tag.json", "pod-ok.json"):
        once(server.port, server.tls, "POST", "/validate", (SEED / "reviews" / name).read_bytes())
    stream = page.locator("#stream li")
    sync_api.expect(stream).to_have_count(3)
    texts = stream.all_inner_texts()
    assert any(REPO in t and "denied" in t for t in texts)
    assert any(TAG in t and "denied" in t for t in texts)
    assert any("allowed" in t and "web-server" in t for t in texts)
    shot(page, "home")


def test_policies_show_parameters_and_highlighted_source(served, page):
    page.goto(served[1] + "/#/policies")
    registry = page.locator('[id="rule-trusted-images/trusted_registry"]')
    registry.get_by_text("repo_prefix").wait_for()
    registry.get_by_text("trusted_images.py:", exact=False).click()
    page.locator(".code .kw").first.wait_for()
    assert page.locator(".code .gutter .hit").inner_text() == "9"
    shot(page, "policies")


def test_decisions_filter_and_detail(served, page):
    page.goto(served[1] + "/#/decisions")
    page.locator("#stream li").first.wait_for()
    page.select_option("#filter-verdict", "denied")
    sync_api.expect(page.locator("#stream li")).to_have_count(2)
    shot(page, "decisions")
    page.locator("#stream li", has_text=TAG).click()
    page.locator("table.results").get_by_text("trusted-images/disallow_latest_tag").wait_for()
    assert "spec.containers[0].image" in page.locator("table.results").inner_text()
    shot(page, "decision")


def test_the_playground_reproduces_a_denial(served, page):
    page.goto(served[1] + "/#/playground")
    page.fill("#pg-text", (SEED / "pods" / "pod-bad-repo.yaml").read_text())
    page.click("#pg-run")
    result = page.locator(".pg-decision")
    result.get_by_text(REPO).first.wait_for()
    assert "denied" in result.inner_text()
    shot(page, "playground")


def test_metrics_and_status_pages(served, page):
    page.goto(served[1] + "/#/metrics")
    page.get_by_text("Slowest rules").wait_for()
    page.locator("svg path").first.wait_for(timeout=20000)  # two samples make a line
    shot(page, "metrics")
    page.goto(served[1] + "/#/status")
    digest = page.locator("#digest").inner_text()
    assert len(digest) == 64
    shot(page, "status")
    assert page.elsewhere == []  # offline: nothing but the console itself was fetched
    assert page.errors == []
