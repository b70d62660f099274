"""Decorators build frozen rules, register them, and return the function unchanged."""

import pytest

import admit
from admit.core.rules import collecting, rules_of


def test_decorators_return_the_function_unchanged_so_rules_stay_testable():
    def rule(request, *, limit=3):
        return None

    assert admit.validate("Pod")(rule) is rule
    [declared] = rules_of(rule)
    assert declared.name == "rule"
    assert dict(declared.arguments) == {"limit": 3}
    with pytest.raises(AttributeError):
        declared.name = "other"  # type: ignore[misc]


def test_rules_register_into_the_active_registry_only():
    with collecting() as registry:

        @admit.validate("Pod")
        def inside(request):
            return None

    @admit.validate("Pod")
    def outside(request):
        return None

    assert [r.name for r in registry] == ["inside"]


@pytest.mark.parametrize(
    "source",
    [
        "def r(request, *, limit): pass",
        "def r(request, extra): pass",
        "def r(): pass",
        "def r(request, **kw): pass",
    ],
)
def test_signatures_that_cannot_be_rules_are_refused(source):
    namespace = {}
    exec(source, namespace)
    with pytest.raises(admit.DefinitionError):
        admit.validate("Pod")(namespace["r"])


def test_bad_actions_and_decision_paths_are_refused():
    with pytest.raises(admit.DefinitionError, match="action"):
        admit.validate("Pod", action="deny")
    with pytest.raises(admit.DefinitionError, match="on_error"):
        admit.validate("Pod", on_error="ignore")
    with pytest.raises(admit.DefinitionError, match="decision path"):
        admit.decision("a//b")


def test_kinds_go_either_positionally_or_in_match():
    with pytest.raises(admit.DefinitionError, match="not both"):
        admit.validate("Pod", match=admit.Match.of("Pod"))
