"""A bundle's YAML cases run under plain pytest: through `admit.testing.run_cases` and through
the pytest plugin, with the same verdicts and diffs as `admit test`."""

import subprocess
import sys

import pytest

from admit.policies import library_path
from admit.testing import run_cases
from tests.helpers import write_bundle

RULES = """
import admit


@admit.validate("Pod")
def no_latest(request):
    for c in request.containers:
        if c.image.endswith(":latest"):
            yield admit.Violation(f"{c.image} uses latest", f"{c.path}.image")
"""

CASES = """
cases:
- name: latest fails
  resource: {apiVersion: v1, kind: Pod, metadata: {name: p}, spec: {containers: [{name: c, image: 'nginx:latest'}]}}
  expect: {images: fail}
- name: a wrong expectation
  resource: {apiVersion: v1, kind: Pod, metadata: {name: p}, spec: {containers: [{name: c, image: 'nginx:latest'}]}}
  expect: {images: pass}
"""


def test_run_cases_returns_the_report_of_a_passing_bundle():
    report = run_cases(library_path("top5"), select="trusted_repo")
    assert report.ok
    assert report.count("passed") >= 4


def test_run_cases_fails_with_every_diff(tmp_path):
    root = write_bundle(tmp_path / "b", {"images.py": RULES, "images_test.yaml": CASES})
    with pytest.raises(AssertionError) as failed:
        run_cases(root)
    message = str(failed.value)
    assert message.startswith("1 of 2 test cases failed in ")
    assert "images_test.yaml::a wrong expectation:" in message
    assert "Pod p: images: result: expected pass, got fail" in message


def test_run_cases_refuses_a_bundle_without_cases(tmp_path):
    root = write_bundle(tmp_path / "b", {"images.py": RULES})
    with pytest.raises(AssertionError, match="no test cases found"):
        run_cases(root)


def test_pytest_collects_a_bundles_yaml_cases(tmp_path):
    write_bundle(tmp_path / "b", {"images.py": RULES, "tests/images_test.yaml": CASES})
    (tmp_path / "other_test.yaml").write_text("not: a test file of any bundle\n")
    # the plugin by module name, whether or not its entry point is installed
    plugin = ["-p", "no:admit", "-p", "admit.testing.pytest_plugin", "-p", "no:cacheprovider"]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", *plugin, "-q", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "b/tests/images_test.yaml::a wrong expectation" in result.stdout
    assert "Pod p: images: result: expected pass, got fail" in result.stdout
    assert "nginx:latest uses latest  [spec.containers[0].image]" in result.stdout
    assert "1 failed, 1 passed" in result.stdout
