"""Values the engine is given or returns never change: a `Request` is read-only, `evaluate`
derives what it needs, bundle data reaches rules only from the set judging them, views compare
by content and so are not hashable (as dicts), and an error in a shipped library rule is
located at the line that raised."""

from pathlib import Path
from types import MappingProxyType

import pytest

import admit
from admit.core.views import View
from admit.policies.best_practices import disallow_latest_tag
from admit.testing import policy_set, request
from tests.helpers import pod

SEEN = []


@admit.validate("Pod")
def reads_data(request):
    SEEN.append(request.data.raw)


def test_evaluate_changes_nothing_it_was_given():
    req = request(pod("nginx:1"))
    with_data = policy_set(reads_data, data={"team": "a"})
    without = policy_set(reads_data)
    before = {name: getattr(req, name) for name in type(req).__slots__}
    SEEN.clear()
    admit.evaluate(with_data, req)
    admit.evaluate(without, req)
    assert SEEN == [{"team": "a"}, {}]  # the second set's rule never sees the first set's data
    assert {name: getattr(req, name) for name in type(req).__slots__} == before


def test_a_request_is_read_only():
    req = request(pod("nginx:1"))
    with pytest.raises(AttributeError, match="a Request is read-only"):
        req.data = View({"x": 1})
    with pytest.raises(AttributeError):
        req.operation = "DELETE"


def test_views_compare_by_content_and_are_unhashable_like_dicts():
    assert View({"a": 1}) == View({"a": 1}) == {"a": 1}
    with pytest.raises(TypeError, match="unhashable"):
        {View({"a": 1}), View({"a": 1})}
    with pytest.raises(TypeError, match="unhashable"):
        hash(View({}))


def test_decisions_and_rule_results_are_immutable():
    decision = admit.evaluate(policy_set(reads_data), request(pod("nginx:1")))
    with pytest.raises(AttributeError):
        decision.allowed = False  # type: ignore[misc]
    with pytest.raises(AttributeError):
        decision.results[0].result = "fail"  # type: ignore[misc]


def test_an_error_in_a_library_rule_names_the_line_that_raised():
    library = policy_set(disallow_latest_tag.validate_image_tag)
    broken = library.with_rules(
        r.configured(arguments=MappingProxyType({"mutable_tags": 5})) for r in library.rules
    )
    result = admit.evaluate(broken, request(pod("nginx:1"))).results[0]
    assert result.result == "error"
    source = disallow_latest_tag.__file__
    line = next(
        i
        for i, text in enumerate(Path(source).read_text().splitlines(), 1)
        if "in mutable_tags" in text
    )
    assert result.location == f"{source}:{line}"
