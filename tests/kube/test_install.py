"""Install manifests: valid Kubernetes objects in apply order, least privilege, the bundle in
a ConfigMap, and options that would break in the cluster refused."""

import base64
import copy
import datetime

import kubernetes_validate
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import admit
from admit.core.match import LabelSelector
from admit.kube.certs import KeyPair, make_ca, make_serving_cert, service_names
from admit.kube.install import (
    InstallOptions,
    build_manifests,
    bundle_files,
    configmap_key,
)
from admit.kube.workload import RUN_AS
from admit.loading.loader import load_bundle
from tests.helpers import ROOT, SEED, write_bundle
from tests.kube.rendering import RICH_FILES, assert_valid, by_kind, verify_for

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
        namespace="pipy", ca=ca, serving=serving, files=RICH_FILES,
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


def test_the_seed_registers_pods_what_rewrites_them_and_workloads_on_create_and_update_only(
    seed, options
):
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
        ("", "pods"), ("", "pods/ephemeralcontainers"), ("", "pods/resize"),
        ("", "replicationcontrollers"), ("apps", "deployments"),
        ("apps", "replicasets"), ("apps", "statefulsets"), ("apps", "daemonsets"),
        ("batch", "jobs"), ("batch", "cronjobs"),
    }  # fmt: skip
    assert all(rule["operations"] == ["CREATE", "UPDATE"] for rule in rules)


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


def test_a_read_the_server_could_not_watch_is_a_load_error_with_a_suggestion(tmp_path):
    bundle = write_bundle(tmp_path, {"r.py": READS_BUNDLE.replace('"v1/Namespace"', '"Namespace"')})  # fmt: skip
    with pytest.raises(admit.BundleError) as caught:
        load_bundle(bundle)
    [problem] = caught.value.problems
    assert problem.code == "unknown_kind"
    assert "reads='Namespace': name the group, version and kind" in problem.message
    assert problem.message.endswith("did you mean 'v1/Namespace'?")


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


def test_the_service_maps_443_to_8443_and_the_console_only_when_exposed_with_a_token(seed, options, ca, serving):
    service = by_kind(build_manifests(seed, options))["Service"]
    assert [(p["port"], p["targetPort"]) for p in service["spec"]["ports"]] == [(443, 8443)]
    # on: the console stays on the pod's loopback (kubectl port-forward), so no Service port
    console = InstallOptions(namespace="pipy", ca=ca, serving=serving, files={"a.py": ""}, console=True)  # fmt: skip
    found = by_kind(build_manifests(seed, console))
    assert [(p["port"], p["targetPort"]) for p in found["Service"]["spec"]["ports"]] == [(443, 8443)]
    args = found["Deployment"]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[-2:] == ["--console-port", "6060"]
    # exposed: on the pod's address, HTTPS, with the Secret's token, and on the Service
    exposed = InstallOptions(namespace="pipy", ca=ca, serving=serving, files={"a.py": ""}, console=True, console_token_secret="admit-console")  # fmt: skip
    found = by_kind(build_manifests(seed, exposed))
    assert [(p["port"], p["targetPort"]) for p in found["Service"]["spec"]["ports"]] == [(443, 8443), (6060, 6060)]  # fmt: skip
    pod = found["Deployment"]["spec"]["template"]["spec"]
    args = pod["containers"][0]["args"]
    assert args[args.index("--console-host") + 1] == "0.0.0.0"
    assert args[args.index("--console-token-file") + 1] == "/etc/admit/console/token"
    assert "--console-tls" in args
    assert {"name": "console", "secret": {"secretName": "admit-console", "defaultMode": 0o440}} in pod["volumes"]


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
