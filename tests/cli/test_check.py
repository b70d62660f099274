"""`admit check`: the origin's three pods, workloads, reports and exit codes CI can use."""

import json
import subprocess
import sys
from xml.etree import ElementTree as ET

import pytest
import yaml

from admit.cli import main
from tests.helpers import ORIGIN_PODS, SEED, deployment, write_bundle


def run(capsys, *args):
    with pytest.raises(SystemExit) as exited:
        main([str(a) for a in args])
    out = capsys.readouterr()
    return exited.value.code, out.out, out.err


@pytest.mark.parametrize(("name", "message"), ORIGIN_PODS.items())
def test_the_origin_pods_are_judged_as_the_origin_did(capsys, name, message):
    code, out, _ = run(capsys, "check", SEED, SEED / "pods" / name)
    if message is None:
        assert code == 0
        assert "2 pass" in out
    else:
        assert code == 1
        assert message in out


def test_a_deployment_template_violation_points_into_the_template(capsys, tmp_path):
    f = tmp_path / "deploy.yaml"
    f.write_text(
        yaml.safe_dump(deployment("192.168.64.1:5000/app:1.0", "192.168.64.1:5000/nginx:latest"))
    )
    code, out, _ = run(capsys, "check", SEED, f, "-o", "json")
    assert code == 1
    [failure] = [r for r in json.loads(out)["results"] if r["result"] == "fail"]
    assert failure == {
        "source": {"file": str(f), "line": 1, "document": 1},
        "resource": {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "namespace": "default",
            "name": "web",
        },
        "policy": "trusted-images",
        "rule": "disallow_latest_tag",
        "result": "fail",
        "action": "enforce",
        "message": "192.168.64.1:5000/nginx:latest tag end with :latest",
        "path": "spec.template.spec.containers[1].image",
        "patch": None,
    }


def test_json_output_is_the_documented_document(capsys):
    code, out, _ = run(capsys, "check", SEED, SEED / "pods", "-o", "json")
    document = json.loads(out)
    assert code == 1
    assert set(document) == {"results", "summary"}
    assert document["summary"] == {
        "pass": 4, "mutate": 0, "fail": 2, "warn": 0, "audit": 0, "excepted": 0, "error": 0,
        "skip": 0,
    }  # fmt: skip
    for entry in document["results"]:
        assert set(entry) == {
            "source", "resource", "policy", "rule", "result", "action", "message", "path", "patch",
        }  # fmt: skip
        assert set(entry["resource"]) == {"apiVersion", "kind", "namespace", "name"}
        assert set(entry["source"]) == {"file", "line", "document"}


def test_junit_output_counts_failures(capsys):
    _, out, _ = run(capsys, "check", SEED, SEED / "pods", "-o", "junit")
    suite = ET.fromstring(out.split("\n", 1)[1])
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("6", "2", "0")


def test_namespace_default_applies_to_objects_without_one(capsys, tmp_path):
    f = tmp_path / "pod.yaml"
    f.write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n"
        "spec: {containers: [{name: c, image: 'nginx:1'}]}\n"
    )
    _, out, _ = run(capsys, "check", SEED, f, "--namespace", "team-a", "-o", "json")
    assert json.loads(out)["results"][0]["resource"]["namespace"] == "team-a"


def test_warn_actions_do_not_fail_the_check_and_read_as_warn(capsys, tmp_path):
    bundle = write_bundle(
        tmp_path / "b",
        {
            "p.py": "import admit\n@admit.validate('Pod', action='warn')\n"
            "def w(request):\n    return 'careful'\n",
        },
    )
    code, out, _ = run(capsys, "check", bundle, SEED / "pods" / "pod-ok.yaml")
    assert code == 0
    assert " warn    careful" in out
    assert out.rstrip().endswith("1 resource checked: 1 warn")


def test_a_rule_that_raises_is_reported_with_file_and_line_not_a_traceback(capsys, tmp_path):
    bundle = write_bundle(
        tmp_path / "b",
        {
            "p.py": "import admit\n\n@admit.validate('Pod')\ndef boom(request):\n"
            "    return request.containers[5].image\n",
        },
    )
    code, out, err = run(capsys, "check", bundle, SEED / "pods" / "pod-ok.yaml")
    assert code == 1
    assert "rule p/boom failed: IndexError: tuple index out of range (at " in out
    assert "p.py:5)" in out
    assert "Traceback" not in out + err


def test_a_broken_bundle_exits_3_listing_its_problems(capsys, tmp_path):
    bundle = write_bundle(tmp_path / "b", {"p.py": "import admit\ndef x(:\n"})
    code, out, err = run(capsys, "check", bundle, SEED / "pods")
    assert code == 3
    assert out == ""
    assert "p.py:2: syntax_error: invalid syntax" in err
    assert "Traceback" not in err


def test_unreadable_input_exits_2_after_checking_the_rest(capsys, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: Pod\napiVersion: v1\n---\nkind: [unclosed\n")
    code, out, err = run(capsys, "check", SEED, bad, SEED / "pods" / "pod-ok.yaml")
    assert code == 2
    assert f"{bad}:5: invalid YAML" in err
    assert "2 resources checked" in out


def test_usage_errors_exit_2(capsys):
    code, _, err = run(capsys, "check", SEED)
    assert code == 2
    assert "Missing argument 'PATHS...'" in err
    code, _, _ = run(capsys, "check", SEED, "x", "--output", "xml")
    assert code == 2


def test_python_dash_m_admit_reads_stdin():
    pod = (SEED / "pods" / "pod-bad-repo.yaml").read_text()
    done = subprocess.run(
        [sys.executable, "-m", "admit", "check", str(SEED), "-"],
        input=pod,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert "nginx:1.21.1 repo not start with 192.168.64.1" in done.stdout


def test_a_referential_rule_works_offline_from_the_given_manifests(capsys, tmp_path):
    from tests.core.test_cluster import INGRESS_A, INGRESS_B

    bundle = write_bundle(
        tmp_path / "b",
        {
            "hosts.py": (
                "import admit\n\n"
                "@admit.validate('Ingress', reads=['networking.k8s.io/v1/Ingress'])\n"
                "def unique_host(request):\n"
                "    mine = {r.host for r in request.object.spec.rules}\n"
                "    for other in request.cluster.list('Ingress'):\n"
                "        if other.metadata.name != request.name:\n"
                "            for r in other.spec.rules:\n"
                "                if r.host in mine:\n"
                "                    yield f'host {r.host} is already used by {other.metadata.namespace}/{other.metadata.name}'\n"
            )
        },
    )
    manifests = tmp_path / "ingresses.yaml"
    manifests.write_text(yaml.safe_dump_all([INGRESS_A, INGRESS_B]))
    code, out, _ = run(capsys, "check", bundle, manifests, "-o", "json")
    assert code == 1
    messages = sorted(r["message"] for r in json.loads(out)["results"] if r["result"] == "fail")
    assert messages == [
        "host api.example.com is already used by default/web",
        "host api.example.com is already used by team-a/api",
    ]


def test_namespace_selectors_offline_read_namespace_manifests(capsys, tmp_path):
    bundle = write_bundle(
        tmp_path / "b",
        {
            "p.py": (
                "import admit\n\n"
                "@admit.validate(match=admit.Match.of('Pod', namespace_selector={'matchLabels': {'env': 'prod'}}))\n"
                "def prod(request):\n"
                "    return 'not in prod'\n"
            )
        },
    )
    f = tmp_path / "all.yaml"
    f.write_text(
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop, labels: {env: prod}}\n---\n"
        "apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: shop}\n"
        "spec: {containers: [{name: c, image: x}]}\n---\n"
        "apiVersion: v1\nkind: Pod\nmetadata: {name: b, namespace: dev}\n"
        "spec: {containers: [{name: c, image: x}]}\n"
    )
    code, out, _ = run(capsys, "check", bundle, f, "-o", "json")
    results = {r["resource"]["name"]: r["result"] for r in json.loads(out)["results"]}
    assert (code, results) == (1, {"a": "fail", "b": "skip"})
