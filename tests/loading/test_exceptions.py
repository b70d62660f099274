"""A bundle's exceptions.yaml: every mistake is a load error at its line, like admit.yaml's; an
expired exception loads (it no longer applies, and tools report it)."""

import pytest

from admit.core.errors import BundleError
from admit.loading.loader import load_bundle
from tests.helpers import SEED, write_bundle

RULES = (SEED / "trusted_images.py").read_text()


def problems(tmp_path, text, **files):
    bundle = write_bundle(
        tmp_path / "b", {"trusted_images.py": RULES, "exceptions.yaml": text, **files}
    )
    with pytest.raises(BundleError) as caught:
        load_bundle(bundle)
    return [str(p) for p in caught.value.problems]


GOOD = """\
exceptions:
- name: legacy
  owner: team-web
  reason: moving off :latest
  expires: 2999-12-31
  policies: [trusted-images]
"""


def test_a_complete_exception_loads_with_its_source_line(tmp_path):
    extra = GOOD + (
        "- name: second\n  owner: o\n  reason: r\n  expires: 2020-01-01\n"
        "  policies: trusted-images/disallow_latest_tag\n"
    )
    bundle = write_bundle(tmp_path / "b", {"trusted_images.py": RULES, "exceptions.yaml": extra})
    first, second = load_bundle(bundle).exceptions
    assert (first.name, first.source) == ("legacy", "exceptions.yaml:2")
    assert first.rules == ("trusted-images",)
    assert second.expired()
    assert second.rules == ("trusted-images/disallow_latest_tag",)


def test_an_exception_without_owner_reason_or_expiry_is_refused(tmp_path):
    text = "exceptions:\n- name: forever\n  policies: [trusted-images]\n"
    assert problems(tmp_path, text) == [
        "exceptions.yaml:2: invalid_exception: forever needs owner, reason, expires: an "
        "exception is owned, explained and expires"
    ]


def test_each_malformed_field_is_reported_at_its_line(tmp_path):
    text = """\
exceptions:
- name: bad
  owner: team
  reason: why
  expires: next week
  policies: [trusted-images]
  match:
    kinds: [pod]
    namespaces: []
    selector: {matchLabels: {app: 3}}
    owner: misplaced
"""
    assert problems(tmp_path, text) == [
        "exceptions.yaml:5: invalid_exception: expires must be a date (2026-12-31) or a time "
        "(2026-12-31T18:00:00Z), got 'next week'",
        "exceptions.yaml:8: invalid_exception: unknown kind 'pod'; did you mean 'Pod'?",
        "exceptions.yaml:9: invalid_exception: namespaces must be a non-empty string or list of "
        "them",
        "exceptions.yaml:10: invalid_exception: matchLabels must map label names to string "
        "values",
        "exceptions.yaml:11: invalid_exception: unknown key 'owner' in match (allowed: kinds, "
        "names, namespaces, selector)",
    ]


def test_an_exception_naming_no_policy_of_the_bundle_is_refused(tmp_path):
    text = GOOD.replace("[trusted-images]", "[trusted-image, trusted-images/no_such_rule]")
    assert problems(tmp_path, text) == [
        "exceptions.yaml:2: invalid_exception: exception legacy names 'trusted-image', which is "
        "no validating policy or rule of the bundle (policies: trusted-images)",
        "exceptions.yaml:2: invalid_exception: exception legacy names "
        "'trusted-images/no_such_rule', which is no validating policy or rule of the bundle "
        "(policies: trusted-images)",
    ]


def test_names_are_unique_across_the_bundles_exception_files(tmp_path):
    assert problems(tmp_path, GOOD, **{"team/exceptions.yaml": GOOD}) == [
        "team/exceptions.yaml:2: invalid_exception: another exception is named 'legacy' "
        "(exceptions.yaml:2)"
    ]


def test_a_file_that_is_not_a_list_of_exceptions_is_refused(tmp_path):
    assert problems(tmp_path, "- name: x\n") == [
        "exceptions.yaml:1: invalid_exception: an exceptions file is a mapping with a list of "
        "`exceptions`"
    ]
    assert problems(tmp_path, "exceptions: [\n")[0].startswith("exceptions.yaml:2: invalid_yaml")


def test_configmap_parts_carry_exceptions_for_their_own_and_other_parts_policies(tmp_path):
    """With --configmaps each ConfigMap is a part whose policies are named `<configmap>.`; an
    exception names its own part's policies as written there, another part's in full."""
    import admit
    from admit.loading.store import load_version
    from admit.loading.versions import Part, RunDirectory
    from tests.helpers import recorded_review

    def part(name):
        return Part(f"default/{name}", prefix=f"{name}.", allow_empty=True, label=f"default/{name}")

    own = GOOD.replace("[trusted-images]", "[trusted-images/disallow_latest_tag]")
    other = GOOD.replace("name: legacy", "name: registry").replace(
        "[trusted-images]", "[policy-a.trusted-images/trusted_registry]"
    )
    files = [
        ("default/policy-a/trusted_images.py", RULES.encode()),
        ("default/policy-a/exceptions.yaml", own.encode()),
        ("default/team-exceptions/exceptions.yaml", other.encode()),
    ]
    _, snapshot = RunDirectory(tmp_path / "run").snapshot(
        files, source="configmaps", parts=(part("policy-a"), part("team-exceptions"))
    )
    policy_set = load_version(snapshot)
    assert sorted(e.name for e in policy_set.exceptions) == ["legacy", "registry"]
    request = admit.Request(
        recorded_review("40-pod-create-nginx-latest--03-validate")["body"]["request"]
    )
    decision = admit.evaluate(policy_set, request)
    assert decision.allowed is True
    assert [(r.key, r.exception.name) for r in decision.results] == [
        ("policy-a.trusted-images/trusted_registry", "registry"),
        ("policy-a.trusted-images/disallow_latest_tag", "legacy"),
    ]
