"""`admit check` output formats CI systems read: every result names its file and line; SARIF and
JUnit validate against their published schemas; GitHub annotations and TAP read as their
consumers expect; colour and width follow the terminal and NO_COLOR."""

import json
import re
from functools import cache
from pathlib import Path
from xml.etree import ElementTree as ET

import jsonschema
import pytest
import xmlschema
import yaml

from tests.cli.test_check import run
from tests.helpers import FIXTURES, SEED, pod, write_bundle

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"
DEPLOYMENT = FIXTURES / "manifests" / "deployment-web.yaml"
BAD_TAG = SEED / "pods" / "pod-bad-tag.yaml"


@cache
def sarif_validator() -> jsonschema.Draft4Validator:
    return jsonschema.Draft4Validator(json.loads((SCHEMAS / "sarif-schema-2.1.0.json").read_text()))


@cache
def junit_schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(SCHEMAS / "junit-10.xsd"))


def two_pods(tmp_path):
    """The README's case: two `Pod default/web-server` in one file, told apart by line."""
    f = tmp_path / "pods.yaml"
    f.write_text(
        "# two pods with one name\n"
        + yaml.safe_dump(pod("nginx:1.21.1", name="web-server"))
        + "---\n"
        + yaml.safe_dump(pod("192.168.64.1:5000/nginx:latest", name="web-server"))
    )
    second = f.read_text().splitlines().index("---") + 2
    return f, second


def test_the_table_names_file_and_line_so_equal_objects_can_be_told_apart(capsys, tmp_path):
    f, second = two_pods(tmp_path)
    code, out, _ = run(capsys, "check", SEED, f)
    assert code == 1
    rows = out.splitlines()
    assert rows[0].split() == ["SOURCE", "RESOURCE", "RULE", "RESULT", "MESSAGE"]
    assert rows[1].split()[:4] == [f"{f}:2", "Pod", "default/web-server", "trusted-images/trusted_registry"]
    assert rows[2].split()[:4] == [f"{f}:{second}", "Pod", "default/web-server", "trusted-images/disallow_latest_tag"]


def test_json_results_carry_file_line_and_document(capsys, tmp_path):
    f, second = two_pods(tmp_path)
    _, out, _ = run(capsys, "check", SEED, f, "-o", "json")
    sources = [r["source"] for r in json.loads(out)["results"] if r["result"] == "fail"]
    assert sources == [
        {"file": str(f), "line": 2, "document": 1},
        {"file": str(f), "line": second, "document": 2},
    ]


def test_junit_names_are_unique_stable_and_valid_against_the_xsd(capsys, tmp_path):
    f, second = two_pods(tmp_path)
    listed = tmp_path / "list.json"  # JSON has no lines: two equal objects share one
    listed.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": [pod("x:1")] * 2}))
    outputs = [run(capsys, "check", SEED, f, listed, "-o", "junit")[1] for _ in range(2)]
    junit_schema().validate(outputs[0])
    runs = [[c.get("name") for c in ET.fromstring(o.split("\n", 1)[1]).iter("testcase")] for o in outputs]
    names = runs[0]
    assert runs[0] == runs[1]
    assert len(names) == len(set(names)) == 8
    assert f"{f}:2 Pod/default/web-server trusted-images/trusted_registry" in names
    assert f"{f}:{second} Pod/default/web-server trusted-images/disallow_latest_tag" in names
    assert f"{listed}:1 Pod/default/web trusted-images/trusted_registry #2" in names


@pytest.mark.parametrize(
    ("bundle", "manifests"),
    [(SEED, SEED / "pods"), ("library:best-practices", DEPLOYMENT), ("library:pss-restricted", DEPLOYMENT)],
)
def test_junit_is_valid_on_the_seed_and_the_library(capsys, bundle, manifests):
    code, out, _ = run(capsys, "check", bundle, manifests, "-o", "junit")
    assert code == 1
    junit_schema().validate(out)
    suite = ET.fromstring(out.split("\n", 1)[1])
    assert int(suite.get("failures")) > 0


@pytest.mark.parametrize(
    ("bundle", "manifests"),
    [(SEED, SEED / "pods"), ("library:best-practices", DEPLOYMENT), ("library:pss-restricted", DEPLOYMENT)],
)
def test_sarif_is_valid_sarif_2_1_0_on_the_seed_and_the_library(capsys, bundle, manifests):
    code, out, _ = run(capsys, "check", bundle, manifests, "-o", "sarif")
    document = json.loads(out)
    errors = sorted(sarif_validator().iter_errors(document), key=str)
    assert errors == [], errors[0].message if errors else ""
    [run_] = document["runs"]
    rules = run_["tool"]["driver"]["rules"]
    assert code == 1
    assert run_["results"]
    for result in run_["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        [where] = result["locations"]
        assert where["physicalLocation"]["region"]["startLine"] >= 1
        assert where["physicalLocation"]["artifactLocation"]["uriBaseId"] == "%SRCROOT%"


def test_sarif_rules_carry_their_docstrings_and_results_their_place(capsys):
    _, out, _ = run(capsys, "check", SEED, BAD_TAG, "-o", "sarif")
    [run_] = json.loads(out)["runs"]
    rules = {r["id"]: r for r in run_["tool"]["driver"]["rules"]}
    latest = rules["trusted-images/disallow_latest_tag"]
    assert latest["shortDescription"]["text"] == "No image may use the mutable `:latest` tag."
    assert latest["help"]["text"].startswith("No image may use the mutable `:latest` tag.")
    assert latest["defaultConfiguration"]["level"] == "error"
    [result] = run_["results"]
    assert result["level"] == "error"
    assert result["message"]["text"] == (
        "Pod default/web-server: 192.168.64.1:5000/nginx:latest tag end with :latest "
        "[spec.containers[0].image]"
    )
    physical = result["locations"][0]["physicalLocation"]
    assert physical["artifactLocation"]["uri"] == "examples/seed/pods/pod-bad-tag.yaml"
    assert physical["region"] == {"startLine": 1}
    assert result["locations"][0]["logicalLocations"] == [
        {"fullyQualifiedName": "Pod/default/web-server", "kind": "resource"}
    ]


def test_github_annotations_point_at_file_and_line(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _f, second = two_pods(tmp_path)
    code, out, _ = run(capsys, "check", SEED, "pods.yaml", "-o", "github")
    assert code == 1
    assert out.splitlines() == [
        "::error file=pods.yaml,line=2,title=trusted-images/trusted_registry::"
        "Pod default/web-server: nginx:1.21.1 repo not start with 192.168.64.1 "
        "[spec.containers[0].image]",
        f"::error file=pods.yaml,line={second},title=trusted-images/disallow_latest_tag::"
        "Pod default/web-server: 192.168.64.1:5000/nginx:latest tag end with :latest "
        "[spec.containers[0].image]",
        "2 resources checked: 2 pass, 2 fail",
    ]


def test_github_annotations_escape_what_the_runner_would_misread(capsys, tmp_path):
    bundle = write_bundle(
        tmp_path / "b",
        {"p.py": "import admit\n@admit.validate('Pod')\ndef r(request):\n"
                 "    return '100% sure\\nsecond line'\n"},
    )  # fmt: skip
    d = tmp_path / "a,b:c"
    d.mkdir()
    (d / "p.yaml").write_text(yaml.safe_dump(pod("x:1")))
    _, out, _ = run(capsys, "check", bundle, d / "p.yaml", "-o", "github")
    first = out.splitlines()[0]
    assert "a%2Cb%3Ac/p.yaml" in first
    assert first.endswith("::Pod default/web: 100%25 sure%0Asecond line")


def test_tap_reads_as_tap_version_13(capsys, tmp_path):
    bundle = write_bundle(
        tmp_path / "b",
        {"p.py": "import admit\n"
                 "@admit.validate('Pod', action='warn')\ndef w(request):\n    return 'careful'\n"
                 "@admit.validate('Deployment')\ndef d(request):\n    return 'never'\n"},
    )  # fmt: skip
    code, out, _ = run(capsys, "check", bundle, SEED / "pods" / "pod-ok.yaml", "-o", "tap")
    lines = out.splitlines()
    assert code == 0
    assert lines[:3] == [
        "TAP version 13",
        "1..1",
        f"not ok 1 - {SEED}/pods/pod-ok.yaml:1 Pod/default/web-server p/w # TODO warn",
    ]
    diagnostics = yaml.safe_load("\n".join(lines[4 : lines.index("  ...")]))
    assert diagnostics == {"severity": "warn", "messages": [{"result": "warn", "message": "careful"}]}
    code, out, _ = run(
        capsys, "check", bundle, SEED / "pods" / "pod-ok.yaml", "-o", "tap", "--fail-on-warn"
    )
    assert code == 1
    assert re.search(r"^not ok 1 - .* p/w$", out, re.M)


def test_tap_on_the_seed_has_one_point_per_rule_and_object(capsys):
    code, out, _ = run(capsys, "check", SEED, SEED / "pods", "-o", "tap")
    points = [line for line in out.splitlines() if re.match(r"(not )?ok \d+ - ", line)]
    assert (code, len(points), out.splitlines()[1]) == (1, 6, "1..6")
    assert sum(p.startswith("not ok") for p in points) == 2


def test_no_color_wins_over_force_color_and_force_color_colours_a_pipe(capsys, monkeypatch):
    monkeypatch.setenv("FORCE_COLOR", "1")
    _, coloured, _ = run(capsys, "check", SEED, BAD_TAG)
    assert "\x1b[" in coloured
    monkeypatch.setenv("NO_COLOR", "1")
    _, plain, _ = run(capsys, "check", SEED, BAD_TAG)
    assert "\x1b[" not in plain
    _, forced, _ = run(capsys, "check", SEED, BAD_TAG, "--color")
    assert "\x1b[" in forced


def test_messages_wrap_to_the_terminal_width(capsys, monkeypatch, tmp_path):
    bundle = write_bundle(
        tmp_path / "b",
        {"p.py": "import admit\n@admit.validate('Pod')\ndef r(request):\n"
                 "    return ' '.join(['word'] * 60)\n"},
    )  # fmt: skip
    monkeypatch.setenv("COLUMNS", "150")
    _, out, _ = run(capsys, "check", bundle, BAD_TAG)
    rows = out.splitlines()[1:-1]
    assert len(rows) > 1
    assert all(len(line) <= 150 for line in rows)
    assert " ".join(" ".join(rows).split()).count("word") == 60
