"""Parameter overrides are checked against the rule's signature and annotations."""

from typing import Annotated, Literal

import pytest

import admit
from admit.core.params import check_arguments, conforms
from admit.core.rules import rules_of


@pytest.mark.parametrize(
    ("value", "tp", "ok"),
    [
        ("a", str, True),
        (1, str, False),
        (True, int, False),
        (1, float, True),
        (["a", "b"], list[str], True),
        (["a", 1], list[str], False),
        ({"a": 1}, dict[str, int], True),
        (None, str | None, True),
        ("warn", Literal["warn", "deny"], True),
        ("other", Literal["warn", "deny"], False),
        (["a"], tuple[str, ...], True),
    ],
)
def test_conforms(value, tp, ok):
    assert conforms(value, tp) is ok


def test_overrides_are_coerced_to_the_declared_collection_type():
    @admit.validate("Pod")
    def r(request, *, registries: tuple[str, ...] = ("a",), limit=3):
        pass

    [rule] = rules_of(r)
    arguments, problems = check_arguments(rule, {"registries": ["x", "y"], "limit": 4})
    assert problems == []
    assert arguments == {"registries": ("x", "y"), "limit": 4}


def test_without_annotation_the_default_type_is_expected():
    @admit.validate("Pod")
    def r(request, *, limit=3):
        pass

    _, problems = check_arguments(rules_of(r)[0], {"limit": "three"})
    assert problems == [("limit", "parameter 'limit' of rule r expects int, got str 'three'")]


def _even(value):
    return None if value % 2 == 0 else f"must be even, not {value}"


def test_annotated_checks_run_once_the_type_fits():
    @admit.validate("Pod")
    def r(request, *, count: Annotated[int, _even] = 2):
        pass

    [rule] = rules_of(r)
    assert check_arguments(rule, {"count": 4}) == ({"count": 4}, [])
    assert check_arguments(rule, {"count": 3})[1] == [
        ("count", "parameter 'count' of rule r: must be even, not 3")
    ]
    assert check_arguments(rule, {"count": "4"})[1] == [
        ("count", "parameter 'count' of rule r expects int, got str '4'")
    ]


def test_annotated_checks_survive_postponed_annotations(tmp_path):
    from admit.loading.loader import load_bundle
    from tests.helpers import write_bundle

    module = (
        "from __future__ import annotations\nfrom typing import Annotated\nimport admit\n"
        "def even(v):\n    return None if v % 2 == 0 else 'must be even'\n"
        "@admit.validate('Pod')\ndef r(request, *, count: Annotated[int, even] = 2):\n    pass\n"
    )
    write_bundle(tmp_path, {"rules.py": module, "admit.yaml": "parameters: {count: 3}\n"})
    with pytest.raises(admit.BundleError) as caught:
        load_bundle(tmp_path)
    assert [str(p) for p in caught.value.problems] == [
        "admit.yaml:1: invalid_parameter: parameter 'count': must be even"
    ]
