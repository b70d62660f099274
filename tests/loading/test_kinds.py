"""Kinds are known: a rule naming a kind the Kubernetes API does not have never loads, and the
error says what was probably meant. Custom resources are declared in admit.yaml."""

import pytest

import admit
from admit.core.kinds import UnknownKind
from admit.core.match import KindPattern
from admit.loading import builtin_kinds as builtin
from admit.loading.loader import load_bundle
from admit.testing import check, policy_set
from tests.helpers import deployment, pod, write_bundle


def problems_of(tmp_path, files):
    with pytest.raises(admit.BundleError) as caught:
        load_bundle(write_bundle(tmp_path, files))
    return [str(p) for p in caught.value.problems]


def rule_for(kind, *, reads=""):
    more = f", reads=[{reads!r}]" if reads else ""
    return f"import admit\n\n\n@admit.validate({kind!r}{more})\ndef judge(request):\n    return None\n"


@pytest.mark.parametrize(
    ("kind", "suggestion"),
    [
        ("pod", "Pod"),
        ("Deployments", "Deployment"),
        ("deployments", "Deployment"),
        ("v1/Deployment", "apps/v1/Deployment"),
        ("apps/v1beta1/Deployment", "apps/v1/Deployment"),
        ("extensions/Ingress", "networking.k8s.io/Ingress"),
        ("Ingres", "Ingress"),
        ("Pod/exe", "Pod/exec"),
        ("Pod/Exec", "Pod/exec"),
        ("Scale", "Deployment/scale"),
        ("PodExecOptions", "Pod/exec"),
        ("*/stauts", "*/status"),
    ],
)
def test_every_kind_typo_is_a_load_error_with_a_suggestion(tmp_path, kind, suggestion):
    [problem] = problems_of(tmp_path, {"rules.py": rule_for(kind)})
    assert problem.startswith(f"rules.py:4: unknown_kind: rule judge: unknown kind {kind!r}")
    assert f"did you mean {suggestion!r}?" in problem


def test_the_issue_s_kinds_read_as_kubectl_users_expect(tmp_path):
    problems = problems_of(
        tmp_path, {"a.py": rule_for("pod"), "b.py": rule_for("Deployments")}
    )
    assert problems == [
        "a.py:4: unknown_kind: rule judge: unknown kind 'pod'; did you mean 'Pod'?",
        "b.py:4: unknown_kind: rule judge: unknown kind 'Deployments'; did you mean 'Deployment'?",
    ]


def test_a_kind_no_one_declared_says_how_to_declare_it(tmp_path):
    [problem] = problems_of(tmp_path, {"rules.py": rule_for("stable.example.com/v1/CronTab")})
    assert "declare a custom resource under `kinds:` in admit.yaml" in problem


def test_reads_name_one_resource_of_the_core_group_with_v1(tmp_path):
    [problem] = problems_of(tmp_path, {"rules.py": rule_for("Pod", reads="v1/Deployment")})
    assert problem == (
        "rules.py:4: unknown_kind: rule judge: unknown kind 'v1/Deployment': the core group v1 "
        "(apiVersion: v1) has no Deployment; did you mean 'apps/v1/Deployment'? (Deployment is "
        "served as apps/v1/Deployment)"
    )
    loaded = load_bundle(write_bundle(tmp_path / "ok", {"r.py": rule_for("Pod", reads="v1/Namespace")}))
    [read] = loaded.reads
    assert (read.group, read.version, read.plural) == ("", "v1", "namespaces")


def test_every_unknown_kind_of_a_bundle_is_reported_in_one_pass(tmp_path):
    two = rule_for("pod") + "\n\n@admit.validate('Servce', 'apps/Deploymnet')\ndef more(request):\n    return None\n"
    problems = problems_of(tmp_path, {"rules.py": two, "z.py": rule_for("Ingres")})
    assert [p.split(": did you")[0].split(";")[0] for p in problems] == [
        "rules.py:4: unknown_kind: rule judge: unknown kind 'pod'",
        "rules.py:9: unknown_kind: rule more: unknown kind 'Servce'",
        "rules.py:9: unknown_kind: rule more: unknown kind 'apps/Deploymnet'",
        "z.py:4: unknown_kind: rule judge: unknown kind 'Ingres'",
    ]


# --- one meaning of version/Kind ------------------------------------------------------------------


def test_version_slash_kind_is_the_core_group_in_matching():
    @admit.validate("v1/Pod")
    def core_pods(request):
        return "judged"

    assert check(pod("nginx:1.27"), core_pods).denials == ("judged",)
    impostor = {**pod("nginx:1.27"), "apiVersion": "example.com/v1"}
    assert check(impostor, core_pods).results == ()


def test_a_kind_alone_matches_every_group_that_serves_it():
    @admit.validate("Event")
    def events(request):
        return "judged"

    [pattern] = policy_set(events).rules[0].match.kinds
    assert pattern.resources == {("", "events"), ("events.k8s.io", "events")}
    for api_version in ("v1", "events.k8s.io/v1"):
        event = {"apiVersion": api_version, "kind": "Event", "metadata": {"name": "e"}}
        assert check(event, events).denials == ("judged",)


def test_group_glob_version_and_star_patterns_resolve():
    kinds = builtin.builtin_kinds()
    assert kinds.resolve(KindPattern.parse("apps/*/Deployment")).resources == {("apps", "deployments")}
    assert kinds.resolve(KindPattern.parse("*/v1/Deployment")).resources == {("apps", "deployments")}
    assert kinds.resolve(KindPattern.parse("*")).resources == {("*", "*")}
    with pytest.raises(UnknownKind, match="the glob names no known kind"):
        kinds.resolve(KindPattern.parse("Deplyo*"))


def test_testing_helpers_refuse_unknown_kinds_too():
    @admit.validate("Deployments")
    def typo(request):
        return None

    with pytest.raises(UnknownKind, match="did you mean 'Deployment'"):
        check(deployment("nginx:1.27"), typo)


# --- custom resources declared in admit.yaml ---------------------------------------------------

CRONTAB_RULE = rule_for("stable.example.com/v1/CronTab")
CRONTABS = """
kinds:
  - group: stable.example.com
    versions: [v1, v1beta1]
    kind: CronTab
    plural: crontabs
    scope: Namespaced
    subresources: [status]
"""


def test_a_crd_declared_in_admit_yaml_loads_with_its_plural(tmp_path):
    loaded = load_bundle(write_bundle(tmp_path, {"rules.py": CRONTAB_RULE, "admit.yaml": CRONTABS}))
    [pattern] = loaded.rules[0].match.kinds
    assert pattern.resources == {("stable.example.com", "crontabs")}
    found = loaded.kinds.find("stable.example.com", "v1beta1", "CronTab")
    assert (found.plural, found.namespaced, found.subresource_names) == ("crontabs", True, ("status",))


def test_a_crd_subresource_must_be_declared(tmp_path):
    files = {"rules.py": rule_for("CronTab/scale"), "admit.yaml": CRONTABS}
    [problem] = problems_of(tmp_path, files)
    assert "CronTab has no subresource 'scale'" in problem


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{group: stable.example.com, version: v1, kind: CronTab, scope: Namespaced}", "admit.yaml:2: invalid_kinds: CronTab: plural must be"),
        ("{group: stable.example.com, version: v1, kind: CronTab, plural: crontabs, scope: Global}", "admit.yaml:2: invalid_kinds: CronTab: scope must be Namespaced or Cluster, not 'Global'"),
        ("{group: example, version: v1, kind: CronTab, plural: crontabs, scope: Cluster}", "group must be an API group with a dot"),
        ("{group: stable.example.com, version: 1, kind: CronTab, plural: crontabs, scope: Cluster}", "version must be like v1"),
        ("{group: stable.example.com, version: v1, kind: cronTab, plural: crontabs, scope: Cluster}", "kind must be a name in CamelCase"),
        ("{group: networking.k8s.io, version: v1, kind: Ingress, plural: ingresses, scope: Namespaced}", "networking.k8s.io/v1/Ingress is built into Kubernetes"),
        ("{group: stable.example.com, version: v1, kind: CronTab, plural: crontabs, scope: Cluster, short: ct}", "unknown key 'short' in a kind"),
    ],
)
def test_a_wrong_kind_declaration_is_a_located_problem(tmp_path, entry, message):
    files = {"rules.py": rule_for("Pod"), "admit.yaml": f"kinds:\n  - {entry}\n"}
    problems = problems_of(tmp_path, files)
    assert any(message in p for p in problems), problems


def test_cluster_scoped_declared_kinds_get_no_namespace_offline(tmp_path):
    config = "kinds:\n  - {group: example.com, version: v1, kind: Tenant, plural: tenants, scope: Cluster}\n"
    loaded = load_bundle(write_bundle(tmp_path, {"r.py": rule_for("Tenant"), "admit.yaml": config}))
    tenant = {"apiVersion": "example.com/v1", "kind": "Tenant", "metadata": {"name": "t"}}
    from admit.core.offline import admission_request

    raw = admission_request(tenant, kinds=loaded.kinds)
    assert "namespace" not in raw
    assert raw["resource"] == {"group": "example.com", "version": "v1", "resource": "tenants"}


# --- where the kinds come from ------------------------------------------------------------------


def test_the_builtin_kinds_are_generated_from_the_installed_lightkube_models():
    """Stale after an upgrade of lightkube-models until `make kinds` regenerates them."""
    import json

    assert json.loads(builtin.DATA.read_text()) == builtin.generate()


def test_the_builtin_kinds_know_subresources_and_scope_as_kube_apiserver_serves_them():
    kinds = builtin.builtin_kinds()
    pod_kind = kinds.find("", "v1", "Pod")
    assert {"ephemeralcontainers", "exec", "eviction", "binding", "resize"} <= set(pod_kind.subresource_names)
    assert dict(kinds.find("apps", "v1", "Deployment").subresources)["scale"] == ("autoscaling", "v1", "Scale")
    assert kinds.find("networking.k8s.io", "v1", "Ingress").plural == "ingresses"
    assert kinds.find("", "v1", "Endpoints").plural == "endpoints"
    assert not kinds.find("", "v1", "Namespace").namespaced
