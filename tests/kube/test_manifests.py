"""Install manifests: valid Kubernetes objects, least privilege, a webhook registered for exactly
what the bundle's rules can match, and a Helm chart that renders the same objects."""

import base64
import copy
import datetime
import json

import helm_python as helm
import kubernetes_validate
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from cryptography.x509.verification import DNSName, PolicyBuilder, Store

import admit
from admit.core.match import LabelSelector
from admit.kube.certs import KeyPair, make_ca, make_serving_cert, service_names
from admit.kube.manifests import (
    InstallOptions,
    build_manifests,
    bundle_files,
    configmap_key,
)
from admit.kube.webhooks import admission_rules
from admit.kube.workload import RUN_AS
from admit.loading.loader import load_bundle
from tests.helpers import ROOT, SEED, recorded, write_bundle

CHART = ROOT / "deploy" / "helm" / "admit"
SCHEMA_VERSIONS = ("1.32", kubernetes_validate.latest_version())


_VALID: set[str] = set()


def assert_valid(objects):
    """Each object against the Kubernetes OpenAPI schemas, strict: unknown fields fail too."""
    for obj in objects:
        text = json.dumps(obj, sort_keys=True)
        if text in _VALID:  # the same object, already checked by an earlier test
            continue
        for version in SCHEMA_VERSIONS:
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                path = ".".join(str(p) for p in exc.path)
                pytest.fail(f"{obj['kind']} {obj['metadata']['name']} ({version}): {path}: {exc.message}")  # fmt: skip
        _VALID.add(text)


def by_kind(objects):
    found = {}
    for obj in objects:
        assert obj["kind"] not in found, f"two {obj['kind']}s"
        found[obj["kind"]] = obj
    return found


def verify_for(ca_bundle_b64, cert_pem, name):
    roots = x509.load_pem_x509_certificates(base64.b64decode(ca_bundle_b64))
    leaf = x509.load_pem_x509_certificate(cert_pem)
    verifier = PolicyBuilder().store(Store(roots)).build_server_verifier(DNSName(name))
    verifier.verify(leaf, [])


@pytest.fixture(scope="module")
def ca():
    return make_ca()


@pytest.fixture(scope="module")
def serving(ca):
    return make_serving_cert(ca, service_names("admit", "pipy"))


@pytest.fixture(scope="module")
def seed():
    return load_bundle(SEED)


@pytest.fixture
def options(ca, serving):
    return InstallOptions(namespace="pipy", ca=ca, serving=serving, files=bundle_files(SEED))


RICH_BUNDLE = """
import admit

@admit.validate("Pod")
def pods(request): ...

@admit.validate("*", operations=["DELETE"])
def deletes(request): ...

@admit.validate("Pod/exec", operations=["CONNECT"])
def execs(request): ...

@admit.validate("Pod/eviction", operations=["CREATE"])
def evictions(request): ...

@admit.validate("apps/v1/Deployment/scale", operations=["UPDATE"])
def scales(request): ...

@admit.validate("Ingress", "Namespace", "ConfigMap", operations="*")
def misc(request): ...

@admit.validate("stable.example.com/v1/CronTab")
def crontabs(request): ...

@admit.mutate("Pod")
def labels(pod):
    pod.metadata.setdefault("labels", {})

@admit.decision("httpapi/authz/allow")
def allow(input):
    return True
"""


@pytest.fixture(scope="module")
def rich(tmp_path_factory):
    return load_bundle(write_bundle(tmp_path_factory.mktemp("rich"), {"rules.py": RICH_BUNDLE}))


# --- what the seed renders ------------------------------------------------------------------


def test_the_seed_renders_valid_objects_in_apply_order(seed, options):
    objects = build_manifests(seed, options)
    assert [o["kind"] for o in objects] == [
        "Namespace", "ServiceAccount", "ConfigMap", "Secret", "Service", "Deployment",
        "PodDisruptionBudget", "ValidatingWebhookConfiguration",
    ]  # fmt: skip
    assert_valid(objects)


def test_the_schema_check_would_catch_a_misspelt_field(seed, options):
    deployment = copy.deepcopy(by_kind(build_manifests(seed, options))["Deployment"])
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["readinesProbe"] = container.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, "1.32", strict=True)


def test_everything_the_options_can_turn_on_is_valid_too(rich, ca, serving):
    options = InstallOptions(
        namespace="pipy", ca=ca, serving=serving, files={"rules.py": RICH_BUNDLE},
        console=True, configmap_sources=True, failure_policy="Ignore", timeout_seconds=10,
        reads=[("networking.k8s.io", "ingresses"), ("", "namespaces")], replicas=3,
    )  # fmt: skip
    objects = build_manifests(rich, options)
    assert_valid(objects)
    assert {"Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"} <= {
        o["kind"] for o in objects
    }


def test_the_secret_certificate_verifies_against_the_webhook_ca_bundle(seed, options):
    found = by_kind(build_manifests(seed, options))
    secret = found["Secret"]
    assert secret["type"] == "kubernetes.io/tls"
    webhook = found["ValidatingWebhookConfiguration"]["webhooks"][0]
    verify_for(
        webhook["clientConfig"]["caBundle"],
        base64.b64decode(secret["data"]["tls.crt"]),
        "admit.pipy.svc",
    )
    assert secret["data"]["ca.crt"] == webhook["clientConfig"]["caBundle"]


def test_no_object_holds_the_ca_private_key(seed, options, ca):
    text = yaml.safe_dump_all(build_manifests(seed, options))
    assert base64.b64encode(ca.key_pem).decode() not in text
    assert ca.key_pem.decode() not in text


def test_the_webhook_calls_the_service_on_443_with_the_origin_settings(seed, options):
    webhook = by_kind(build_manifests(seed, options))["ValidatingWebhookConfiguration"]
    assert webhook["metadata"]["name"] == "admit.pipy"
    [hook] = webhook["webhooks"]
    assert hook["name"] == "validate.admit.dev"
    assert hook["clientConfig"]["service"] == {
        "namespace": "pipy", "name": "admit", "path": "/validate", "port": 443,
    }  # fmt: skip
    assert hook["admissionReviewVersions"] == ["v1", "v1beta1"]
    assert hook["sideEffects"] == "None"
    assert hook["failurePolicy"] == "Fail"
    assert hook["matchPolicy"] == "Equivalent"
    assert hook["timeoutSeconds"] == 5


def test_the_namespace_selector_skips_admit_and_kube_system(seed, options):
    hook = by_kind(build_manifests(seed, options))["ValidatingWebhookConfiguration"]["webhooks"][0]
    selector = LabelSelector.parse(hook["namespaceSelector"])
    assert selector.matches({"kubernetes.io/metadata.name": "default"})
    assert not selector.matches({"kubernetes.io/metadata.name": "pipy"})
    assert not selector.matches({"kubernetes.io/metadata.name": "kube-system"})


def test_the_seed_registers_pods_and_workloads_on_create_and_update_only(seed, options):
    found = by_kind(build_manifests(seed, options))
    assert "MutatingWebhookConfiguration" not in found
    rules = found["ValidatingWebhookConfiguration"]["webhooks"][0]["rules"]
    registered = {
        (group, resource)
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }
    assert registered == {
        ("", "pods"), ("", "replicationcontrollers"), ("apps", "deployments"),
        ("apps", "replicasets"), ("apps", "statefulsets"), ("apps", "daemonsets"),
        ("batch", "jobs"), ("batch", "cronjobs"),
    }  # fmt: skip
    assert all(rule["operations"] == ["CREATE", "UPDATE"] for rule in rules)


# --- webhook rules from Match -------------------------------------------------------------------


def sent_to(rules, request):
    """Whether admissionregistration `rules` send this recorded request to the webhook
    (the API reference's semantics: "*" is every resource but no subresource)."""
    resource, sub = request["resource"], request.get("subResource", "")
    for rule in rules:
        if request["operation"] not in rule["operations"] and "*" not in rule["operations"]:
            continue
        if "*" not in rule["apiGroups"] and resource["group"] not in rule["apiGroups"]:
            continue
        if "*" not in rule["apiVersions"] and resource["version"] not in rule["apiVersions"]:
            continue
        for pattern in rule["resources"]:
            name, _, subpattern = pattern.partition("/")
            if name in ("*", resource["resource"]) and (
                (not sub and not subpattern) or (sub and subpattern in ("*", sub))
            ):
                return True
    return False


def test_every_recorded_request_a_rule_matches_is_sent_to_the_webhook(rich):
    """Against 158 requests a real kube-apiserver sent: whatever the engine would judge is
    registered (leaving one out would silently skip policy)."""
    by_type = {t: admission_rules(r for r in rich.rules if r.type == t) for t in ("validate", "mutate")}  # fmt: skip
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
    rules = admission_rules(seed.rules)
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


@pytest.mark.parametrize(
    ("kind", "group", "version", "resource"),
    [
        ("*", "*", "*", "*"),
        ("Pod/exec", "", "*", "pods/exec"),
        ("*/status", "*", "*", "*/status"),
        ("apps/v1/Deployment", "apps", "v1", "deployments"),
        ("Ingress", "networking.k8s.io", "*", "ingresses"),
        ("NetworkPolicy", "networking.k8s.io", "*", "networkpolicies"),
        ("stable.example.com/CronTab", "stable.example.com", "*", "crontabs"),
        ("CronTab", "*", "*", "crontabs"),
        ("Endpoints", "", "*", "endpoints"),
    ],
)
def test_a_kind_pattern_maps_to_its_group_version_and_resource(kind, group, version, resource):
    rule = admit.Rule(lambda r: None, "validate", "r", admit.Match.of(kind, operations="CREATE"))
    [first, *_] = admission_rules([rule])
    assert (first["apiGroups"], first["apiVersions"], first["resources"]) == (
        [group], [version], [resource]
    )  # fmt: skip
    assert first["operations"] == ["CREATE"]


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


# --- least privilege and the pods -------------------------------------------------------------


def test_by_default_admit_gets_no_rbac_and_no_api_token(seed, options):
    found = by_kind(build_manifests(seed, options))
    assert not {"Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"} & set(found)
    assert found["ServiceAccount"]["automountServiceAccountToken"] is False
    assert found["Deployment"]["spec"]["template"]["spec"]["automountServiceAccountToken"] is False


def test_configmap_sources_may_read_and_annotate_configmaps_in_its_namespace_only(
    seed, ca, serving
):
    options = InstallOptions(namespace="pipy", ca=ca, serving=serving, files={"a.py": ""}, configmap_sources=True)  # fmt: skip
    found = by_kind(build_manifests(seed, options))
    role = found["Role"]
    assert role["metadata"]["namespace"] == "pipy"
    assert role["rules"] == [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch", "patch"]}]  # fmt: skip
    assert found["RoleBinding"]["subjects"] == [{"kind": "ServiceAccount", "name": "admit", "namespace": "pipy"}]  # fmt: skip
    assert "ClusterRole" not in found
    assert found["ServiceAccount"]["automountServiceAccountToken"] is True


def test_configmap_sources_serve_labelled_configmaps_instead_of_a_mounted_bundle(seed, ca, serving):
    options = InstallOptions(namespace="pipy", ca=ca, serving=serving, files={"a.py": ""}, configmap_sources=True)  # fmt: skip
    found = by_kind(build_manifests(seed, options))
    assert found["ConfigMap"]["metadata"]["labels"]["admit.dev/policy"] == "true"
    spec = found["Deployment"]["spec"]["template"]["spec"]
    assert spec["containers"][0]["args"][:5] == ["serve", "--configmaps", "admit.dev/policy=true", "--configmap-namespace", "pipy"]  # fmt: skip
    assert "bundle" not in {v["name"] for v in spec["volumes"]}
    assert "bundle" not in {m["name"] for m in spec["containers"][0]["volumeMounts"]}


READS_BUNDLE = """
import admit

@admit.validate("Ingress", reads=["networking.k8s.io/v1/Ingress", "v1/Namespace"])
def unique_hosts(request): ...
"""


def test_the_cluster_cache_may_watch_the_kinds_the_rules_read(tmp_path, ca, serving):
    reading = load_bundle(write_bundle(tmp_path, {"r.py": READS_BUNDLE}))
    options = InstallOptions(namespace="pipy", ca=ca, serving=serving, files={"r.py": READS_BUNDLE})  # fmt: skip
    found = by_kind(build_manifests(reading, options))
    assert found["ClusterRole"]["rules"] == [
        {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses"], "verbs": ["get", "list", "watch"]},
    ]  # fmt: skip
    assert found["ServiceAccount"]["automountServiceAccountToken"] is True
    assert found["Deployment"]["spec"]["template"]["spec"]["automountServiceAccountToken"] is True


def test_a_read_the_server_could_not_watch_is_refused(tmp_path, ca, serving):
    vague = load_bundle(write_bundle(tmp_path, {"r.py": READS_BUNDLE.replace('"v1/Namespace"', '"Namespace"')}))  # fmt: skip
    options = InstallOptions(namespace="pipy", ca=ca, serving=serving, files={"r.py": ""})
    with pytest.raises(ValueError, match="reads='Namespace': name the group, version and kind"):
        build_manifests(vague, options)


def test_a_cluster_cache_may_get_list_watch_exactly_what_it_reads(seed, ca, serving):
    reads = [("networking.k8s.io", "ingresses"), ("", "namespaces"), ("", "services")]
    options = InstallOptions(namespace="pipy", ca=ca, serving=serving, files={"a.py": ""}, reads=reads)  # fmt: skip
    found = by_kind(build_manifests(seed, options))
    assert found["ClusterRole"]["rules"] == [
        {"apiGroups": [""], "resources": ["namespaces", "services"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses"], "verbs": ["get", "list", "watch"]},
    ]  # fmt: skip
    assert found["ClusterRoleBinding"]["roleRef"]["name"] == "admit.pipy"
    assert "Role" not in found


def test_the_pod_runs_locked_down_and_drains(seed, options):
    spec = by_kind(build_manifests(seed, options))["Deployment"]["spec"]["template"]["spec"]
    [container] = spec["containers"]
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True, "runAsNonRoot": True, "runAsUser": 65532,
        "seccompProfile": {"type": "RuntimeDefault"},
    }  # fmt: skip
    assert container["args"] == [
        "serve", "/etc/admit/bundle", "--tls-cert", "/etc/admit/tls/tls.crt",
        "--tls-key", "/etc/admit/tls/tls.key", "--port", "8443",
    ]  # fmt: skip
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "https", "scheme": "HTTPS"}  # fmt: skip
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "https", "scheme": "HTTPS"}  # fmt: skip
    assert container["ports"] == [{"name": "https", "containerPort": 8443, "protocol": "TCP"}]
    assert {m["mountPath"] for m in container["volumeMounts"]} == {"/etc/admit/bundle", "/etc/admit/tls", "/tmp"}  # fmt: skip
    assert container["lifecycle"]["preStop"]
    assert spec["terminationGracePeriodSeconds"] > 25  # admit serve's drain timeout
    term = spec["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"


def test_the_service_maps_443_to_8443_and_the_console_only_when_on(seed, options, ca, serving):
    service = by_kind(build_manifests(seed, options))["Service"]
    assert [(p["port"], p["targetPort"]) for p in service["spec"]["ports"]] == [(443, 8443)]
    console = InstallOptions(namespace="pipy", ca=ca, serving=serving, files={"a.py": ""}, console=True)  # fmt: skip
    found = by_kind(build_manifests(seed, console))
    assert [(p["port"], p["targetPort"]) for p in found["Service"]["spec"]["ports"]] == [(443, 8443), (6060, 6060)]  # fmt: skip
    args = found["Deployment"]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[-2:] == ["--console-port", "6060"]


def test_one_replica_gets_no_disruption_budget_that_would_block_drains(seed, ca, serving):
    one = InstallOptions(namespace="pipy", ca=ca, serving=serving, files={"a.py": ""}, replicas=1)
    assert "PodDisruptionBudget" not in by_kind(build_manifests(seed, one))


def test_the_image_runs_as_the_user_the_pod_demands():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert f"USER {RUN_AS}:{RUN_AS}" in dockerfile
    assert 'ENTRYPOINT ["admit"]' in dockerfile


# --- the bundle in a ConfigMap ----------------------------------------------------------------


def test_bundle_files_keep_text_and_skip_caches_hidden_and_binary_files(tmp_path):
    root = write_bundle(tmp_path / "b", {
        "rules.py": "import admit\n", "lib/util.py": "X = 1\n", "admit.yaml": "policies: {}\n",
        ".hidden.py": "", ".git/config": "", "lib/__pycache__/util.cpython-311.pyc": "",
    })  # fmt: skip
    (root / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0")
    assert bundle_files(root) == {"admit.yaml": "policies: {}\n", "lib/util.py": "X = 1\n", "rules.py": "import admit\n"}  # fmt: skip


def test_subdirectories_are_flattened_into_keys_and_mounted_back(tmp_path, ca, serving):
    """Restoring the ConfigMap through the volume's items gives the very same bundle."""
    root = write_bundle(tmp_path / "b", {
        "images/trusted.py": (SEED / "trusted_images.py").read_text(),
        "images/__init__.py": "", "images/data.yaml": "registries: [a]\n", "top.py": "",
    })  # fmt: skip
    policy_set = load_bundle(root)
    options = InstallOptions(namespace="pipy", ca=ca, serving=serving, files=bundle_files(root))
    found = by_kind(build_manifests(policy_set, options))
    data = found["ConfigMap"]["data"]
    assert set(data) == {"images__trusted.py", "images____init__.py", "images__data.yaml", "top.py"}
    [volume] = [v for v in found["Deployment"]["spec"]["template"]["spec"]["volumes"] if v["name"] == "bundle"]  # fmt: skip
    mounted = tmp_path / "mounted"
    for item in volume["configMap"]["items"]:
        (mounted / item["path"]).parent.mkdir(parents=True, exist_ok=True)
        (mounted / item["path"]).write_text(data[item["key"]])
    assert load_bundle(mounted).digest == policy_set.digest


def test_a_file_name_a_configmap_key_cannot_hold_is_refused():
    assert configmap_key("a/b/c.py") == "a__b__c.py"
    with pytest.raises(ValueError, match="cannot be stored in a ConfigMap"):
        configmap_key("my rules.py")


def test_a_bundle_too_large_for_a_configmap_is_refused(seed, ca, serving):
    options = InstallOptions(namespace="pipy", ca=ca, serving=serving, files={"big.yaml": "x" * (1024 * 1024)})  # fmt: skip
    with pytest.raises(ValueError, match="a ConfigMap holds at most"):
        build_manifests(seed, options)


# --- options that would break in the cluster are refused ------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"timeout_seconds": 11}, "timeout must be 1 to 10 seconds"),
        ({"timeout_seconds": 0}, "timeout must be 1 to 10 seconds"),
        ({"namespace": "default"}, "namespace of its own"),
        ({"namespace": "Pipy"}, "is not a DNS label"),
        ({"service": "1admit"}, "must start with a letter"),
        ({"replicas": 0}, "at least 1"),
        ({"failure_policy": "Deny"}, "Fail or Ignore"),
        ({"files": {}}, "needs the bundle's files"),
        ({"serving": None}, "needs a serving certificate"),
        ({"webhook_url": "http://10.0.0.5"}, "must be https"),
        ({"extra_sans": ["admit.example.com"]}, "does not cover admit.example.com"),
    ],
)
def test_options_kube_apiserver_would_reject_are_refused(ca, serving, change, message):
    given = {"namespace": "pipy", "ca": ca, "serving": serving, "files": {"a.py": ""}, **change}
    with pytest.raises(ValueError, match=message):
        InstallOptions(**given)


def test_a_certificate_for_another_service_or_from_another_ca_is_refused(ca):
    other_namespace = make_serving_cert(ca, service_names("admit", "other"))
    with pytest.raises(ValueError, match=r"does not cover admit\.pipy\.svc"):
        InstallOptions(namespace="pipy", ca=ca, serving=other_namespace, files={"a.py": ""})
    stranger = make_serving_cert(make_ca(), service_names("admit", "pipy"))
    with pytest.raises(ValueError, match="not issued by the CA"):
        InstallOptions(namespace="pipy", ca=ca, serving=stranger, files={"a.py": ""})


def intermediate_ca(root):
    """A CA signed by `root` (make_ca's CAs are roots of path length 0: built by hand)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "intermediate")]))
        .issuer_name(root.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(serialization.load_pem_private_key(root.key_pem, None), hashes.SHA256())
    )
    return KeyPair(
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )  # fmt: skip


def test_a_serving_chain_through_an_intermediate_is_accepted():
    root = make_ca("root")
    middle = intermediate_ca(root)
    leaf = make_serving_cert(middle, service_names("admit", "pipy"))
    with pytest.raises(ValueError, match="not issued by the CA"):
        InstallOptions(namespace="pipy", ca=root, serving=leaf, files={"a.py": ""})
    chained = KeyPair(leaf.cert_pem + middle.cert_pem, leaf.key_pem)
    InstallOptions(namespace="pipy", ca=root, serving=chained, files={"a.py": ""})


def test_with_a_webhook_url_only_the_namespace_and_webhooks_are_rendered(seed, ca):
    options = InstallOptions(namespace="pipy", ca=ca, webhook_url="https://127.0.0.1:8443/")
    objects = build_manifests(seed, options)
    assert [o["kind"] for o in objects] == ["Namespace", "ValidatingWebhookConfiguration"]
    config = objects[1]["webhooks"][0]["clientConfig"]
    assert config["url"] == "https://127.0.0.1:8443/validate"
    assert "service" not in config
    assert_valid(objects)


# --- the Helm chart ---------------------------------------------------------------------------


def render_chart(values, namespace="pipy"):
    with helm.Chart.load(str(CHART)) as chart:
        chart.validate_schema(values)
        rendered = chart.render(values, name="admit", namespace=namespace, is_install=True)
    return [
        doc
        for name, text in sorted(rendered.items())
        if name.endswith(".yaml")
        for doc in yaml.safe_load_all(text)
        if doc
    ]


def comparable(obj):
    """An object without the labels only Helm adds."""
    obj = copy.deepcopy(obj)
    for meta in (obj["metadata"], obj.get("spec", {}).get("template", {}).get("metadata", {})):
        for label in ("app.kubernetes.io/managed-by", "helm.sh/chart"):
            meta.get("labels", {}).pop(label, None)
    return obj


def chart_values(serving, ca, files, **more):
    return {
        "createNamespace": True,
        "bundle": {"files": files},
        "tls": {"caCert": ca.cert_pem.decode(), "cert": serving.cert_pem.decode(), "key": serving.key_pem.decode()},
        **more,
    }  # fmt: skip


def test_the_chart_renders_what_admit_manifests_renders(seed, options, ca, serving):
    charted = render_chart(chart_values(serving, ca, bundle_files(SEED)))
    built = build_manifests(seed, options)
    key = lambda o: (o["kind"], o["metadata"]["name"])  # noqa: E731
    assert sorted(map(key, charted)) == sorted(map(key, built))
    charted_by_key = {key(o): comparable(o) for o in charted}
    for obj in built:
        assert charted_by_key[key(obj)] == comparable(obj), key(obj)
    assert_valid(charted)


def test_the_chart_renders_the_options_like_admit_manifests(rich, ca, serving):
    files = {"rules.py": RICH_BUNDLE, "lib/util.py": "X = 1\n"}
    built = build_manifests(rich, InstallOptions(
        namespace="pipy", ca=ca, serving=serving, files=files, console=True, replicas=1,
        configmap_sources=True, reads=[("", "namespaces"), ("networking.k8s.io", "ingresses")],
        failure_policy="Ignore", timeout_seconds=3, image="registry.example/admit:1.2",
    ))  # fmt: skip
    rules = {t: admission_rules(r for r in rich.rules if r.type == t) for t in ("validate", "mutate")}  # fmt: skip
    charted = render_chart(chart_values(
        serving, ca, files, console={"enabled": True}, replicas=1, configmapSources=True,
        reads=[{"apiGroup": "", "resource": "namespaces"}, {"apiGroup": "networking.k8s.io", "resource": "ingresses"}],
        failurePolicy="Ignore", timeoutSeconds=3,
        image={"repository": "registry.example/admit", "tag": "1.2", "pullPolicy": "IfNotPresent"},
        webhooks={"validate": {"rules": rules["validate"]}, "mutate": {"rules": rules["mutate"]}},
    ))  # fmt: skip
    assert sorted(map(comparable, charted), key=repr) == sorted(map(comparable, built), key=repr)


def test_helm_lint_finds_nothing_worse_than_a_missing_icon():
    result = helm.lint(str(CHART), {"bundle": {"files": {"a.py": ""}}}, namespace="pipy", strict=True)  # fmt: skip
    assert result["errors"] == []
    assert {m["error"] for m in result["messages"]} <= {"icon is recommended"}


def test_the_chart_default_rules_are_the_seed_rules():
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["webhooks"]["validate"]["rules"] == admission_rules(load_bundle(SEED).rules)
    assert values["webhooks"]["mutate"]["rules"] == []


def test_the_chart_makes_a_certificate_the_ca_bundle_verifies_when_given_none():
    found = by_kind(render_chart({"bundle": {"files": {"a.py": "import admit\n"}}}))
    verify_for(
        found["ValidatingWebhookConfiguration"]["webhooks"][0]["clientConfig"]["caBundle"],
        base64.b64decode(found["Secret"]["data"]["tls.crt"]),
        "admit.pipy.svc",
    )
    assert "Namespace" not in found  # helm install --create-namespace makes it


def test_the_chart_with_a_webhook_url_renders_only_the_webhooks(ca):
    found = render_chart({"webhookUrl": "https://127.0.0.1:8443", "tls": {"caCert": ca.cert_pem.decode()}})  # fmt: skip
    assert list(by_kind(found)) == ["ValidatingWebhookConfiguration"]
    assert found[0]["webhooks"][0]["clientConfig"]["url"] == "https://127.0.0.1:8443/validate"


@pytest.mark.parametrize(
    ("values", "namespace", "message"),
    [
        ({"timeoutSeconds": 11}, "pipy", "timeoutSeconds"),
        ({}, "pipy", "no policy bundle"),
        ({"bundle": {"files": {"a.py": ""}}}, "default", "namespace of its own"),
    ],
)
def test_the_chart_refuses_what_admit_manifests_refuses(values, namespace, message):
    with pytest.raises(helm.HelmError, match=message):
        render_chart(values, namespace=namespace)
