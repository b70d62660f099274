"""The engine: one `evaluate` for every edge, with outcomes, precedence, templates and patches."""

import pytest

import admit
from admit.testing import check, policy_set, request
from tests.helpers import deployment, pod


@admit.validate("Pod", operations=["CREATE", "UPDATE"])
def trusted_registry(request, *, repo_prefix="192.168.64.1"):
    for container in request.containers:
        if not container.image.startswith(repo_prefix):
            yield f"{container.image} repo not start with {repo_prefix}"


@admit.validate("Pod")
def no_latest(request):
    for container in request.containers:
        if container.image.endswith(":latest"):
            yield admit.Violation(
                f"{container.image} tag end with :latest", f"{container.path}.image"
            )


def test_the_issue_example_rule_denies_an_untrusted_image_with_the_origin_message():
    decision = check(pod("nginx:1.21.1"), trusted_registry)
    assert not decision.allowed
    assert decision.denials == ("nginx:1.21.1 repo not start with 192.168.64.1",)
    assert decision.message == "nginx:1.21.1 repo not start with 192.168.64.1"
    [result] = decision.results
    assert (result.policy, result.rule, result.result, result.action) == (
        "test",
        "trusted_registry",
        "fail",
        "enforce",
    )


def test_a_trusted_image_passes():
    decision = check(pod("192.168.64.1:5000/nginx:1.21.1"), trusted_registry, no_latest)
    assert decision.allowed
    assert [r.result for r in decision.results] == ["pass", "pass"]


def test_every_violation_is_reported_and_the_message_joins_them_by_line():
    decision = check(pod("nginx:latest", "busybox:1"), trusted_registry, no_latest)
    assert decision.denials == (
        "nginx:latest repo not start with 192.168.64.1",
        "busybox:1 repo not start with 192.168.64.1",
        "nginx:latest tag end with :latest",
    )
    assert decision.message.count("\n") == 2


def test_containers_cover_init_and_ephemeral_containers_with_their_paths():
    obj = pod("192.168.64.1/app:1")
    obj["spec"]["initContainers"] = [{"name": "init", "image": "192.168.64.1/x:latest"}]
    obj["spec"]["ephemeralContainers"] = [{"name": "dbg", "image": "busybox:latest"}]
    decision = check(obj, no_latest)
    paths = [v.path for v in decision.results[0].violations]
    assert paths == ["spec.initContainers[0].image", "spec.ephemeralContainers[0].image"]


@pytest.mark.parametrize(
    ("kind", "prefix"),
    [
        ("Deployment", "spec.template."),
        ("StatefulSet", "spec.template."),
        ("DaemonSet", "spec.template."),
        ("ReplicaSet", "spec.template."),
    ],
)
def test_a_pod_rule_covers_workload_templates_with_paths_into_the_template(kind, prefix):
    obj = deployment("192.168.64.1:5000/app:1", "192.168.64.1:5000/nginx:latest")
    obj["kind"] = kind
    decision = check(obj, no_latest)
    assert not decision.allowed
    [violation] = decision.results[0].violations
    assert violation.message == "192.168.64.1:5000/nginx:latest tag end with :latest"
    assert violation.path == f"{prefix}spec.containers[1].image"


def test_a_pod_rule_covers_jobs_and_cronjobs():
    job = deployment("nginx:latest")
    job.update(apiVersion="batch/v1", kind="Job")
    cron = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "c", "namespace": "default"},
        "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": job["spec"]}},
    }
    assert check(job, no_latest).results[0].violations[0].path == (
        "spec.template.spec.containers[0].image"
    )
    assert check(cron, no_latest).results[0].violations[0].path == (
        "spec.jobTemplate.spec.template.spec.containers[0].image"
    )


def test_a_rule_for_another_kind_is_not_listed_at_all():
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {}}
    decision = check(cm, trusted_registry)
    assert decision.allowed
    assert decision.results == ()


def test_an_operation_the_rule_does_not_match_is_a_skip():
    decision = check(None, trusted_registry, operation="DELETE", old_object=pod("nginx:1"))
    assert [r.result for r in decision.results] == ["skip"]
    assert decision.allowed


def test_validate_defaults_to_create_and_update():
    assert no_latest.__admit_rules__[0].match.operations == {"CREATE", "UPDATE"}


@admit.validate("Pod")
def explodes(request):
    return 1 / 0


@admit.validate("Pod", on_error="allow")
def explodes_open(request):
    raise RuntimeError("boom")


def test_a_rule_that_raises_denies_by_default_naming_the_rule():
    decision = check(pod("x"), explodes)
    [result] = decision.results
    assert result.result == "error"
    assert result.error == "ZeroDivisionError: division by zero"
    assert result.location.endswith("test_engine.py:" + str(explodes.__code__.co_firstlineno + 2))
    assert "Traceback" in result.traceback
    assert not decision.allowed
    assert decision.denials == ("rule test/explodes failed: ZeroDivisionError: division by zero",)


def test_on_error_allow_fails_open_with_a_warning():
    decision = check(pod("x"), explodes_open)
    assert decision.allowed
    assert decision.warnings == ("rule test/explodes_open failed: RuntimeError: boom",)


@admit.validate("Pod")
def returns_garbage(request):
    return 42


def test_a_rule_returning_an_unsupported_value_is_an_error_not_a_crash():
    [result] = check(pod("x"), returns_garbage).results
    assert result.result == "error"
    assert "returns or yields None, str or admit.Violation" in result.error


@admit.validate("Pod", action="warn")
def warn_latest(request):
    for c in request.containers:
        if c.image.endswith(":latest"):
            yield f"{c.image} should be pinned"


@admit.validate("Pod", action="audit")
def audit_latest(request):
    if any(c.image.endswith(":latest") for c in request.containers):
        return "latest seen"
    return None


@admit.validate("Pod")
def soft(request):
    yield admit.warn("consider adding resources", "spec.containers[0].resources")


def test_actions_warn_and_audit_never_deny():
    decision = check(pod("a:latest"), warn_latest, audit_latest, soft)
    assert decision.allowed
    assert decision.warnings == ("a:latest should be pinned", "consider adding resources")
    assert decision.audits == (("test/audit_latest", "latest seen"),)
    assert [r.result for r in decision.results] == ["fail", "fail", "warn"]


def test_returning_false_fails_with_the_docstring():
    @admit.validate("Pod")
    def has_labels(request):
        """Pods must have labels."""
        return bool(request.labels)

    obj = pod("a")
    obj["metadata"]["labels"] = {}
    assert check(obj, has_labels).denials == ("Pods must have labels.",)


@admit.mutate("Pod")
def default_pull_policy(pod):
    for container in pod.containers:
        container.setdefault("imagePullPolicy", "IfNotPresent")


@admit.mutate("Pod")
def add_label(pod):
    pod.labels["example.com/mutated"] = "true"


def test_mutation_yields_an_rfc6902_patch_and_validations_see_the_result():
    @admit.validate("Pod")
    def needs_label(request):
        if request.labels.get("example.com/mutated") != "true":
            yield "not mutated"

    decision = check(pod("a"), default_pull_policy, add_label, needs_label)
    assert decision.allowed
    assert sorted(decision.patch, key=lambda op: op["path"]) == [
        {"op": "add", "path": "/metadata/labels/example.com~1mutated", "value": "true"},
        {"op": "add", "path": "/spec/containers/0/imagePullPolicy", "value": "IfNotPresent"},
    ]


def test_mutations_are_idempotent_on_their_own_output():
    first = check(pod("a"), default_pull_policy, add_label)
    patched = admit.core.patch.apply_patch(pod("a"), list(first.patch))
    assert check(patched, default_pull_policy, add_label).patch == ()


def test_a_pod_mutation_on_a_deployment_patches_the_template():
    decision = check(deployment("a"), default_pull_policy)
    assert decision.patch == (
        {
            "op": "add",
            "path": "/spec/template/spec/containers/0/imagePullPolicy",
            "value": "IfNotPresent",
        },
    )


def test_a_mutation_that_raises_leaves_no_partial_change():
    @admit.mutate("Pod", on_error="allow")
    def half_done(pod):
        pod.labels["half"] = "yes"
        raise ValueError("nope")

    decision = check(pod("a"), half_done, add_label)
    assert decision.allowed
    assert [op["path"] for op in decision.patch] == ["/metadata/labels/example.com~1mutated"]
    assert decision.results[0].result == "error"


def test_phases_separate_mutation_and_validation():
    ps = policy_set(add_label, trusted_registry)
    only_mutate = admit.evaluate(ps, request(pod("nginx:1")), phase="mutate")
    only_validate = admit.evaluate(ps, request(pod("nginx:1")), phase="validate")
    assert only_mutate.allowed
    assert only_mutate.patch
    assert not only_validate.allowed
    assert only_validate.patch == ()


def test_rules_read_bundle_data():
    @admit.validate("Pod")
    def allowed_registries(request):
        allowed = request.data.registries.allowed
        for c in request.containers:
            if not any(c.image.startswith(r) for r in allowed):
                yield f"{c.image} is not from {', '.join(allowed)}"

    data = {"registries": {"allowed": ["ghcr.io/"]}}
    assert check(pod("ghcr.io/a:1"), allowed_registries, data=data).allowed
    assert not check(pod("docker.io/a:1"), allowed_registries, data=data).allowed


def test_results_carry_timings():
    decision = check(pod("a"), trusted_registry)
    assert decision.results[0].duration_ns > 0
    assert decision.duration_ns >= decision.results[0].duration_ns


@admit.decision("httpapi/authz/allow")
def allow(input):
    return input["method"] == "GET" or "admin" in input["user"]["groups"]


@admit.decision("httpapi/authz/reason")
def reason(input):
    return "read-only" if input["method"] == "GET" else "admin"


def test_query_a_decision_and_a_document_of_decisions():
    ps = policy_set(allow, reason)
    get = {"method": "GET", "user": {"groups": []}}
    assert admit.query(ps, "httpapi/authz/allow", get) == (True, True)
    assert admit.query(ps, "/httpapi/authz/allow", {"method": "POST", "user": {"groups": []}}) == (
        True,
        False,
    )
    assert admit.query(ps, "httpapi/authz", get) == (
        True,
        {"allow": True, "reason": "read-only"},
    )
    assert admit.query(ps, "httpapi/nothing", get) == (False, None)


def test_a_decision_that_raises_is_an_evaluation_error():
    ps = policy_set(allow)
    with pytest.raises(admit.EvaluationError, match="KeyError"):
        admit.query(ps, "httpapi/authz/allow", {})


@admit.validate("Pod/exec", operations=["CONNECT"])
def no_exec(request):
    return f"no exec into {request.name}"


@admit.validate("Pod", operations="*")
def any_pod_write(request):
    return "pod write"


def test_subresources_are_matched_only_when_named():
    from tests.helpers import recorded_review

    exec_request = recorded_review("37-pod-exec-connect--01")["body"]["request"]
    status_update = recorded_review("11-deployment-create-web--04-validate-UPDATE")["body"][
        "request"
    ]
    ps = policy_set(no_exec, any_pod_write)
    decision = admit.evaluate(ps, admit.Request(exec_request))
    assert [r.rule for r in decision.results] == ["no_exec"]  # kind PodExecOptions, pods/exec
    assert decision.denials == ("no exec into complex",)
    assert admit.evaluate(ps, admit.Request(status_update)).results == ()


def test_rule_patches_record_each_mutations_own_patch_only_when_asked():
    from admit.core.engine import PolicySet, evaluate
    from admit.core.review import Request
    from admit.core.rules import collecting
    from tests.helpers import pod

    with collecting() as registry:
        import admit

        @admit.mutate("Pod")
        def label(obj):
            obj.setdefault("metadata", {}).setdefault("labels", {})["team"] = "web"

        @admit.mutate("Pod")
        def pull(obj):
            for c in obj.containers:
                c["imagePullPolicy"] = "Always"

    policy_set = PolicySet([r.configured(policy="m") for r in registry])
    raw = {"uid": "1", "kind": {"group": "", "version": "v1", "kind": "Pod"},
           "operation": "CREATE", "object": pod("x:1")}  # fmt: skip
    plain = evaluate(policy_set, Request(raw))
    traced = evaluate(policy_set, Request(raw), rule_patches=True)
    assert [r.patch for r in plain.results] == [(), ()]
    assert [list(r.patch) for r in traced.results] == [
        [{"op": "add", "path": "/metadata/labels/team", "value": "web"}],
        [{"op": "add", "path": "/spec/containers/0/imagePullPolicy", "value": "Always"}],
    ]
    assert len(traced.patch) == 2


def test_a_message_format_words_denials_and_warnings_by_policy_and_rule():
    from admit.core.decision import decide, message_format_problem
    from admit.core.outcome import RuleResult, Violation

    results = [
        RuleResult("p", "deny", "fail", "enforce", (Violation("no"),)),
        RuleResult("p", "soft", "fail", "warn", (Violation("careful"),)),
    ]
    decision = decide(results, message_format="[{policy}/{rule}] {message}")
    assert decision.denials == ("[p/deny] no",)
    assert decision.warnings == ("[p/soft] careful",)
    assert decide(results).denials == ("no",)
    assert message_format_problem("{rule}") == "'{rule}' leaves out {message}, the rule's own words"
    assert message_format_problem("{message} {0}") is not None
