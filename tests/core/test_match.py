"""Matching: kinds with group/version, operations, namespaces, label selectors, users/groups."""

import pytest

import admit
from admit.core.match import KindPattern, LabelSelector
from admit.testing import check
from tests.helpers import pod


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Pod", KindPattern("*", "*", "Pod")),
        ("v1/Pod", KindPattern("", "v1", "Pod")),  # the core group, as in `apiVersion: v1`
        ("*/v1/Deployment", KindPattern("*", "v1", "Deployment")),
        ("apps/*/Deployment", KindPattern("apps", "*", "Deployment")),
        ("Pod/ephemeralcontainers", KindPattern("*", "*", "Pod", "ephemeralcontainers")),
        ("apps/Deployment", KindPattern("apps", "*", "Deployment")),
        ("apps/v1/Deployment", KindPattern("apps", "v1", "Deployment")),
        ("core/v1/Pod", KindPattern("", "v1", "Pod")),
        ("Pod/exec", KindPattern("*", "*", "Pod", "exec")),
        ("*", KindPattern("*", "*", "*")),
    ],
)
def test_kind_patterns(text, expected):
    assert KindPattern.parse(text) == expected


@pytest.mark.parametrize("bad", ["", "a/b/c/D/e/f", "apps//Deployment"])
def test_malformed_kind_patterns_are_definition_errors(bad):
    with pytest.raises(admit.DefinitionError):
        KindPattern.parse(bad)


def test_unknown_operations_are_definition_errors():
    with pytest.raises(admit.DefinitionError, match="unknown operations"):
        admit.validate("Pod", operations=["CREATE", "PATCH"])


def _rule(**match):
    @admit.validate(match=admit.Match.of("Pod", **match))
    def deny_all(request):
        return "denied"

    return deny_all


def test_group_and_version_in_kinds_are_honoured():
    @admit.validate("apps/v1/Deployment")
    def deny(request):
        return "no"

    fake = {"apiVersion": "example.com/v1", "kind": "Deployment", "metadata": {"name": "d"}}
    assert check(fake, deny).results == ()


@pytest.mark.parametrize(
    ("match", "namespace", "applies"),
    [
        ({"namespaces": ["team-*"]}, "team-a", True),
        ({"namespaces": ["team-*"]}, "default", False),
        ({"exclude_namespaces": ["kube-*"]}, "kube-system", False),
        ({"exclude_namespaces": ["kube-*"]}, "default", True),
    ],
)
def test_namespace_globs(match, namespace, applies):
    obj = pod("a")
    obj["metadata"]["namespace"] = namespace
    [result] = check(obj, _rule(**match)).results
    assert (result.result == "fail") is applies


def test_object_selector_with_match_expressions():
    rule = _rule(
        object_selector={
            "matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["frontend"]}],
        }
    )
    assert (
        check(pod("a", labels={"app": "web", "tier": "frontend"}), rule).results[0].result == "fail"
    )
    assert check(pod("a", labels={"app": "web", "tier": "db"}), rule).results[0].result == "skip"
    assert check(pod("a", labels={"app": "web"}), rule).results[0].result == "skip"


@pytest.mark.parametrize(
    ("expression", "labels", "matches"),
    [
        ({"key": "env", "operator": "NotIn", "values": ["prod"]}, {"env": "dev"}, True),
        ({"key": "env", "operator": "NotIn", "values": ["prod"]}, {}, True),
        ({"key": "env", "operator": "NotIn", "values": ["prod"]}, {"env": "prod"}, False),
        ({"key": "env", "operator": "Exists"}, {"env": ""}, True),
        ({"key": "env", "operator": "DoesNotExist"}, {"env": "x"}, False),
    ],
)
def test_selector_operators(expression, labels, matches):
    assert LabelSelector.parse({"matchExpressions": [expression]}).matches(labels) is matches


@pytest.mark.parametrize(
    "bad",
    [
        {"matchLabels": {"a": 1}},
        {"matchExpressions": [{"key": "a", "operator": "Equals", "values": ["x"]}]},
        {"matchExpressions": [{"key": "a", "operator": "In"}]},
        {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
        {"labels": {}},
    ],
)
def test_malformed_selectors_are_definition_errors(bad):
    with pytest.raises(admit.DefinitionError):
        LabelSelector.parse(bad)


def test_namespace_selector_reads_the_namespace_labels():
    rule = _rule(namespace_selector={"matchLabels": {"env": "prod"}})
    assert check(pod("a"), rule, namespace_labels={"env": "prod"}).results[0].result == "fail"
    assert check(pod("a"), rule, namespace_labels={"env": "dev"}).results[0].result == "skip"
    assert check(pod("a"), rule).results[0].result == "skip"


def test_users_and_groups():
    rule = _rule(groups=["system:serviceaccounts:*"], exclude_users=["*:kube-system:*"])
    sa = {
        "username": "system:serviceaccount:team-a:ci",
        "groups": ["system:serviceaccounts:team-a"],
    }
    sys_sa = {
        "username": "system:serviceaccount:kube-system:x",
        "groups": ["system:serviceaccounts:kube-system"],
    }
    human = {"username": "alice", "groups": ["devs"]}
    assert check(pod("a"), rule, user=sa).results[0].result == "fail"
    assert check(pod("a"), rule, user=sys_sa).results[0].result == "skip"
    assert check(pod("a"), rule, user=human).results[0].result == "skip"


def test_object_selector_on_delete_reads_the_old_object():
    rule = admit.validate(
        match=admit.Match.of(
            "Pod", operations="DELETE", object_selector={"matchLabels": {"protected": "true"}}
        )
    )(lambda request: "protected pods cannot be deleted")
    protected = pod("a", labels={"protected": "true"})
    decision = check(None, rule, operation="DELETE", old_object=protected)
    assert decision.denials == ("protected pods cannot be deleted",)
