"""Parameter overrides are checked against the rule's signature and annotations."""

from typing import Literal

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
