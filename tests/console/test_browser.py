"""End to end in a real headless Chromium: `admit serve examples/seed` with TLS and the console;
the origin's three pods go to /validate and their decisions appear live on the start page; then
every page shows numbers from that traffic; the playground reproduces a denial; the policy
editor changes a decision, shows a syntax error at its line and stops an endless loop; a
decision saved as a test case passes `admit test`; a console with a token lets no one in
without it. Screenshots go to docs/console-*.png.

Needs Debian's chromium and Playwright for Python (never `playwright install`):
    apt-get install -y chromium && pip install playwright
"""

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
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
    server = start_server(SEED.relative_to(ROOT), tmp, "--console-port", str(port), "--rule-timeout", "1", workers=2)  # fmt: skip
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
        page.evaluate("window.scrollTo(0, 0)")  # else the sticky header lands mid-page
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
    # the traffic of the first test, as the workers counted it (published every second, sampled
    # by the console every two): the page shows what it was given when it opened
    calls = registry.locator("dd").nth(1)
    deadline = time.monotonic() + 20
    while "3 calls" not in calls.inner_text() and time.monotonic() < deadline:
        time.sleep(0.5)
        page.reload()
        registry.get_by_text("repo_prefix").wait_for()
    calls = calls.inner_text()
    assert "3 calls" in calls
    assert "pass 2" in calls
    assert "fail 1" in calls
    assert "object" not in page.locator("main").inner_text()
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
    assert "3 admission requests, 2 denied" in page.locator("#metrics-totals").inner_text()
    row = page.locator('#policy-metrics tr[data-policy="trusted-images"]')
    sync_api.expect(row.locator("td").nth(1)).to_have_text("6")  # 2 rules x 3 pods
    assert row.locator("td.ratio").inner_text() == "33%"  # 2 of 6 evaluations denied
    assert page.locator("#chart-rate text.tick").count() >= 2  # a time axis
    assert "requests/s" in page.locator("#chart-rate h2").inner_text()
    rules = page.locator("#slowest-rules").inner_text()
    assert "trusted-images/trusted_registry" in rules
    assert "µs" in rules
    for table in ("#slowest-rules", "#policy-metrics"):  # nothing overflows its panel
        assert page.evaluate(f"(() => {{ const e = document.querySelector('{table}'); return e.scrollWidth <= e.clientWidth; }})()")
    shot(page, "metrics")
    page.goto(served[1] + "/#/status")
    digest = page.locator("#digest").inner_text()
    assert len(digest) == 64
    assert page.locator("#revision").inner_text().startswith(f"bundle {digest[:12]} · 2 rules")
    shot(page, "status")
    assert page.elsewhere == []  # offline: nothing but the console itself was fetched
    assert page.errors == []


BAD_TAG = (SEED / "pods" / "pod-bad-tag.yaml").read_text()
RULES = (SEED / "trusted_images.py").read_text()


def edit(page, url, source):
    """Open the playground's editor on the seed's module, put `source` in it, and judge the pod
    with the latest tag."""
    page.goto(url + "/#/playground")
    page.locator("#pg-policy option", has_text="edit trusted-images").wait_for(state="attached")
    page.select_option("#pg-policy", label="edit trusted-images (trusted_images.py)")
    page.locator(".CodeMirror").wait_for()
    page.evaluate("(text) => document.querySelector('.CodeMirror').CodeMirror.setValue(text)", source)
    page.fill("#pg-text", BAD_TAG)
    page.click("#pg-run")


def test_an_edited_policy_changes_the_decision_and_says_the_served_set_did_not(served, page):
    url = served[1]
    edit(page, url, RULES.replace('tag_suffix: str = ":latest"', 'tag_suffix: str = ":unstable"'))
    change = page.locator(".pg-decision .change")
    sync_api.expect(change).to_contain_text("Served policies: denied → edited: allowed")
    assert "trusted-images/disallow_latest_tag: fail → pass" in change.inner_text()
    assert "never change" in page.locator("#pg-sandbox-note").inner_text()
    assert "seccomp" in page.locator("#pg-trial").inner_text()
    shot(page, "editor")
    # the served policies still deny it
    page.select_option("#pg-policy", index=0)
    page.click("#pg-run")
    sync_api.expect(page.locator(".pg-decision h2").first).to_contain_text("denied")


def test_a_syntax_error_is_shown_at_its_line_in_the_editor(served, page):
    broken = RULES.replace("for container in request.containers:", "for container in request.containers", 1)
    edit(page, served[1], broken)
    note = page.locator(".cm-error-note")
    sync_api.expect(note).to_have_text("line 12: expected ':'")
    assert page.locator(".cm-error-line").count() == 1
    # the marked line is line 12 of the editor
    assert page.evaluate("document.querySelector('.CodeMirror').CodeMirror.getLineHandle(11).bgClass") == "cm-error-line"
    assert "trusted_images.py:12: syntax_error" in page.locator("#pg-problems").inner_text()


def test_an_endless_loop_in_an_edited_rule_is_stopped_with_a_message(served, page):
    looping = RULES.replace('    """No image may use the mutable `:latest` tag."""\n', '    """No image may use the mutable `:latest` tag."""\n    while True:\n        pass\n')
    edit(page, served[1], looping)
    results = page.locator(".pg-decision table.results")
    sync_api.expect(results).to_contain_text("exceeded the 1s rule timeout", timeout=20000)
    assert "error" in results.inner_text()


def test_a_denial_saved_as_a_test_case_passes_admit_test(served, page, tmp_path):
    page.goto(served[1] + "/#/decisions")
    page.locator("#stream li", has_text=TAG).click()
    page.locator("button.save-case").click()
    text = page.locator(".case-text").inner_text()
    assert "result: fail" in text
    with page.expect_download() as download:
        page.get_by_text("Download captured_test.yaml").click()
    assert Path(download.value.path()).read_text() == text
    shot(page, "case")
    bundle = shutil.copytree(SEED, tmp_path / "seed")
    (bundle / "captured_test.yaml").write_text(text)
    done = subprocess.run([sys.executable, "-m", "admit", "test", str(bundle), "--no-color"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
    assert page.errors == []


@pytest.fixture(scope="module")
def gated(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("console-gated")
    (tmp / "token").write_text("a-token-for-the-browser-test-42\n")
    port = free_port()
    server = start_server(SEED, tmp, "--console-port", str(port), "--console-token-file", str(tmp / "token"), workers=2)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/status", timeout=2)
        except urllib.error.HTTPError:
            break  # 401: up, and gated
        except OSError:
            assert time.monotonic() < deadline, server.stderr()
            time.sleep(0.1)
    yield server, url
    assert server.stop() == 0


def test_the_token_gate_lets_no_one_in_without_the_token(gated, page):
    url = gated[1]
    page.goto(url + "/")
    page.locator("form.login").wait_for()
    assert page.locator("#main").count() == 0  # no console page at all
    assert page.evaluate("fetch('/api/decisions').then((r) => r.status)") == 401
    shot(page, "login")
    page.fill("#token", "a wrong guess")
    page.click("#login")
    sync_api.expect(page.locator("#login-error")).to_have_text("That is not this console's token.")
    page.fill("#token", "a-token-for-the-browser-test-42")
    page.click("#login")
    page.locator("#home-policies").get_by_text("trusted_registry").wait_for()
    page.locator("#live.on").wait_for()  # the event stream carries the session cookie too
    assert page.evaluate("fetch('/api/decisions').then((r) => r.status)") == 200
