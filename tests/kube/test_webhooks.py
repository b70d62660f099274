"""Webhook registrations: every request a rule can judge is sent to admit, nothing else, with
resource names from the API's kinds."""

import admit
from admit.kube.manifests import InstallOptions, build_manifests
from admit.kube.webhooks import admission_rules
from admit.loading.loader import load_bundle
from tests.helpers import recorded, write_bundle
from tests.kube.rendering import by_kind, sent_to


def test_every_recorded_request_a_rule_matches_is_sent_to_the_webhook(rich):
    """Against 158 requests a real kube-apiserver sent: whatever the engine would judge is
    registered (leaving one out would silently skip policy)."""
    by_type = {t: admission_rules((r for r in rich.rules if r.type == t), rich.kinds) for t in ("validate", "mutate")}  # fmt: skip
    judged = 0
    for record in recorded():
        request = record["body"]["request"]
        for binding in rich.bindings_for(admit.Request(request)):
            assert binding.rule.match is not None
            if request["operation"] in binding.rule.match.operations:
                judged += 1
                assert sent_to(by_type[binding.rule.type], request), (
                    f"{binding.rule.name} judges {request['operation']} {request['resource']} "
                    f"{request.get('subResource', '')} but the webhook is not called for it"
                )
    assert judged > 50


def test_the_seed_webhook_is_not_called_for_kinds_it_does_not_judge(seed):
    rules = admission_rules(seed.rules, seed.kinds)
    kinds = {
        r["body"]["request"]["kind"]["kind"]
        for r in recorded()
        if sent_to(rules, r["body"]["request"])
    }
    assert kinds == {
        "Pod",
        "Deployment",
        "ReplicaSet",
        "StatefulSet",
        "DaemonSet",
        "Job",
        "CronJob",
    }


def test_mutate_rules_get_a_mutating_webhook(rich, ca, serving):
    options = InstallOptions(namespace="pipy", ca=ca, serving=serving, files={"r.py": ""})
    [hook] = by_kind(build_manifests(rich, options))["MutatingWebhookConfiguration"]["webhooks"]
    assert hook["name"] == "mutate.admit.dev"
    assert hook["clientConfig"]["service"]["path"] == "/mutate"
    assert hook["reinvocationPolicy"] == "IfNeeded"
    deployment = {"group": "apps", "version": "v1", "resource": "deployments"}
    assert sent_to(hook["rules"], {"operation": "CREATE", "resource": deployment})


def test_a_bundle_of_decisions_only_registers_no_webhook(tmp_path, ca, serving):
    decisions = load_bundle(write_bundle(tmp_path, {"d.py": DECISION_ONLY}))
    options = InstallOptions(namespace="pipy", ca=ca, serving=serving, files={"d.py": ""})
    kinds = {o["kind"] for o in build_manifests(decisions, options)}
    assert not kinds & {"ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"}


DECISION_ONLY = """
import admit

@admit.decision("httpapi/authz/allow")
def allow(input):
    return True
"""
