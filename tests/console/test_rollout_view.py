"""The console's rollout view shows what the producers write: the served revision, the
bundle's exceptions (as the loader reads exceptions.yaml) and the audit's reports (the documents
the audit process writes into the run directory's audit.json)."""

import time

from admit.console.app import ConsoleApp
from admit.console.decisions import DecisionFeed
from admit.console.stats import MetricsHistory
from admit.core.engine import evaluate
from admit.core.reports import Audited, Finding, Subject, report
from tests.console.test_app import api
from tests.helpers import SEED, Published, write_bundle

EXCEPTIONS = """\
exceptions:
- name: web-latest
  owner: team-web
  reason: web moves off :latest next sprint
  expires: 2999-01-01
  policies: [trusted-images/disallow_latest_tag]
"""


def test_the_rollout_view_shows_revision_exceptions_and_audit_reports(tmp_path):
    bundle = write_bundle(tmp_path / "b", {
        "trusted_images.py": (SEED / "trusted_images.py").read_text(),
        "exceptions.yaml": EXCEPTIONS,
    })  # fmt: skip
    published = Published(bundle, tmp_path / "run")
    app = ConsoleApp(published.store, DecisionFeed(tmp_path / "unused.sock"),
                     MetricsHistory(None), evaluate)  # fmt: skip
    before = api(app, "/api/rollout")
    assert before["revision"]["digest"] == published.store.current().digest
    [exception] = before["exceptions"]
    assert (exception["name"], exception["owner"]) == ("web-latest", "team-web")
    assert before["reports"] is None  # no audit ran

    pod = Subject("v1", "Pod", "team-a", "web")
    finding = Finding("trusted-images", "disallow_latest_tag", "fail", "nginx:latest tag end with :latest")
    document = report([Audited(pod, (finding,), time.time(), passed=1)], "team-a")
    published.store.run.write_report("audit", {"time": time.time(), "reports": [document]})
    [shown] = api(app, "/api/rollout")["reports"]["reports"]
    assert shown["namespace"] == "team-a"
    assert shown["summary"]["fail"] == 1
    assert shown["results"] == [{
        "policy": "trusted-images", "rule": "disallow_latest_tag", "result": "fail",
        "message": "nginx:latest tag end with :latest",
        "resource": {"kind": "Pod", "namespace": "team-a", "name": "web"},
    }]  # fmt: skip
