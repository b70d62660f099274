"""The policy editor's trials: edited code judged in a confined process of its own, against a
copy of the served version (published as `admit serve` publishes it), never changing it."""

import json
import subprocess
import sys
import textwrap

import pytest

from admit.console.playground import requests_of_text
from admit.console.trial import Edit, run_trial, snapshot_of
from admit.loading.builtin_kinds import builtin_kinds
from tests.console.test_app import POD, api, call
from tests.helpers import SEED

TAG_POD = POD.replace("nginx:1.21.1", "registry.example.com/nginx:latest")
RULES = (SEED / "trusted_images.py").read_text()
LATEST_RULE = '    """No image may use the mutable `:latest` tag."""\n'


def edited(rule_body):
    """The seed's module with the `:latest` rule's body replaced."""
    start = RULES.index(LATEST_RULE) + len(LATEST_RULE)
    return RULES[:start] + textwrap.indent(textwrap.dedent(rule_body), "    ")


def trial(app, source, text=TAG_POD, file="trusted_images.py"):
    modules = api(app, "/api/policies")["modules"]
    path = None if file is None else next(m["file"] for m in modules if m["file"].endswith(file))
    body = {"text": text, "policy": {"file": path, "source": source}}
    status, _, answer = call(app, "POST", "/api/playground", json.dumps(body).encode())
    assert status == 200, answer
    return json.loads(answer)


def test_an_edited_rule_changes_the_decision_beside_the_served_one(app):
    answer = trial(app, RULES.replace('tag_suffix: str = ":latest"', 'tag_suffix: str = ":nope"'))
    assert answer["trial"]["problems"] == []
    assert answer["trial"]["stopped"] is None
    assert [d["allowed"] for d in answer["served"]] == [False]
    assert [d["allowed"] for d in answer["decisions"]] == [True]
    (change,) = answer["changes"]
    assert change["allowed"] == [False, True]
    assert change["rules"] == [{
        "rule": "trusted-images/disallow_latest_tag", "served": "fail", "edited": "pass",
        "removed": ["registry.example.com/nginx:latest tag end with :latest"], "added": [],
    }]  # fmt: skip
    assert "seccomp" in answer["trial"]["confinement"]
    # the served set never changed: the same request is still denied, by the same rule
    _, _, again = call(app, "POST", "/api/playground", json.dumps({"text": TAG_POD}).encode())
    assert [d["allowed"] for d in json.loads(again)["decisions"]] == [False]
    assert (snapshot_of(app.policies.current()) / "trusted_images.py").read_text() == RULES


def test_a_blank_policy_joins_the_served_ones_for_the_trial(app):
    source = 'import admit\n\n@admit.validate("Pod")\ndef no_web(request):\n    yield "no web"\n'
    answer = trial(app, source, text=POD.replace("nginx:1.21.1", "registry.example.com/a:1"), file=None)
    (decision,) = answer["decisions"]
    assert decision["allowed"] is False
    assert {(r["policy"], r["rule"], r["result"]) for r in decision["results"]} >= {
        ("edited-policy", "no_web", "fail"), ("trusted-images", "trusted_registry", "pass")
    }  # fmt: skip
    assert answer["trial"]["file"] == "edited_policy.py"


def test_a_syntax_error_is_located_at_its_line_in_the_edited_module(app):
    broken = RULES.replace("for container in request.containers:", "for container in request.containers", 1)
    answer = trial(app, broken)
    (problem,) = [p for p in answer["trial"]["problems"] if p["edited"]]  # admit.yaml's follow
    line = broken.splitlines().index("    for container in request.containers") + 1
    assert (problem["file"], problem["line"], problem["code"], problem["edited"]) == ("trusted_images.py", line, "syntax_error", True)
    assert answer["decisions"] == []


def test_an_endless_loop_in_a_rule_ends_at_the_rule_timeout_with_a_message(app):
    app.rule_timeout = 0.5
    answer = trial(app, edited("while True:\n    pass\n"))
    result = next(r for r in answer["decisions"][0]["results"] if r["rule"] == "disallow_latest_tag")
    assert result["result"] == "error"
    assert "exceeded the 0.5s rule timeout" in result["error"]


def test_a_module_that_loops_at_import_is_stopped_at_the_trials_time_limit(app):
    snapshot = snapshot_of(app.policies.current())
    raws = requests_of_text(TAG_POD, builtin_kinds())
    found = run_trial(snapshot, Edit("trusted_images.py", "while True:\n    pass\n"), raws, rule_timeout=1, timeout=1.5)
    assert found.decisions == []
    assert found.stopped.startswith("the edited policy did not finish within 1.5s and was stopped")


def test_a_module_that_exits_is_a_message_not_a_console_error(app):
    answer = trial(app, "import os\nos._exit(3)\n")
    assert "exited with code 3 before it answered" in answer["trial"]["stopped"]


@pytest.mark.parametrize(("body", "refusal"), [
    ("import socket\nsocket.socket()\n", "may not open a network socket"),
    ("import urllib.request\nurllib.request.urlopen('http://127.0.0.1:9/')\n", "may not"),
    ("import subprocess\nsubprocess.run(['true'])\n", "may not start a process"),
    ("import os\nos.kill(os.getppid(), 0)\n", "may not signal a process"),
    ("open('/etc/hostname').read()\n", "may not read /etc/hostname"),
    ("open('x.txt', 'w')\n", "may not write files"),
    ("import ctypes\nctypes.CDLL('libc.so.6')\n", "may not load native code"),
])  # fmt: skip
def test_edited_code_gets_no_network_processes_signals_or_files_of_the_server(app, body, refusal):
    answer = trial(app, edited(body))
    result = next(r for r in answer["decisions"][0]["results"] if r["rule"] == "disallow_latest_tag")
    assert result["result"] == "error"
    assert refusal in result["error"]


KERNEL = """
import ctypes, os, sys, tempfile
libc = ctypes.CDLL(None, use_errno=True)
socket_, fork, kill = libc.socket, libc.fork, libc.kill  # native calls, past any audit hook
from admit.console.confine import confine
assert confine(tempfile.gettempdir(), memory=1024**3, seconds=5).kernel
found = []
for name, call in (("socket", lambda: socket_(2, 1, 0)), ("fork", fork), ("kill", lambda: kill(os.getppid(), 0))):
    found.append((name, call(), ctypes.get_errno()))
print(found)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="seccomp is Linux's")
def test_the_kernel_refuses_sockets_processes_and_signals_to_native_code_too():
    """The audit hook can be passed by native code; the seccomp filter cannot."""
    done = subprocess.run([sys.executable, "-c", KERNEL], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[('socket', -1, 1), ('fork', -1, 1), ('kill', -1, 1)]"  # EPERM


def test_an_edit_of_a_file_outside_the_served_set_is_refused(app):
    body = {"text": TAG_POD, "policy": {"file": "/etc/passwd", "source": "x = 1\n"}}
    status, _, answer = call(app, "POST", "/api/playground", json.dumps(body).encode())
    assert status == 400
    assert json.loads(answer)["code"] == "invalid_edit"
