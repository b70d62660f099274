"""The data document as OPA serves it: bundle data and decisions in one tree, read by path in
any form OPA users write it, with undefined input read as missing."""

import pytest

import admit
from admit.core.document import UNDEFINED, path_segments, read
from admit.testing import policy_set

DATA = {"rbac": {"roles": {"reader": ["read"], "admin": ["read", "write"]}}, "limits": [10, 20]}


@admit.decision("rbac/allow")
def rbac_allow(input, data):
    return input.action in data.rbac.roles.get(input.role, [])


@admit.decision("data.rbac.explain")
def explain(input):
    return {"role": input.role, "checked": ["roles"]}


@admit.decision("system/log/mask")
def mask(event):
    yield "/input/password"
    if event.input.token:
        yield {"op": "upsert", "path": "/input/token", "value": "***"}


@admit.decision("sets/unique")
def unique(input):
    return {3, 1, 2}


@admit.decision("boom/now")
def boom(input):
    raise KeyError("missing")


def test_paths_read_the_same_in_every_form():
    for form in ("data.rbac.allow", "rbac/allow", "/rbac/allow/"):
        assert path_segments(form) == ("rbac", "allow")
    assert path_segments("data") == path_segments("/") == path_segments("") == ()
    with pytest.raises(admit.InputError, match="empty segment"):
        path_segments("data.rbac..allow")


def test_a_decision_reads_the_bundles_data_as_its_second_argument():
    ps = policy_set(rbac_allow, data=DATA)
    assert read(ps, ("rbac", "allow"), {"role": "admin", "action": "write"}).value is True
    assert read(ps, ("rbac", "allow"), {"role": "reader", "action": "write"}).value is False


def test_undefined_input_reads_as_missing_everywhere():
    ps = policy_set(rbac_allow, explain, data=DATA)
    answer = read(ps, ("rbac", "allow"), UNDEFINED)
    assert (answer.defined, answer.value) == (True, False)
    assert read(ps, ("rbac", "explain")).value == {"role": None, "checked": ["roles"]}


def test_data_and_decisions_merge_into_one_document_without_touching_the_bundles_data():
    ps = policy_set(rbac_allow, explain, data=DATA)
    rbac = read(ps, ("rbac",), {"role": "reader", "action": "read"}).value
    assert rbac["roles"] == DATA["rbac"]["roles"]
    assert rbac["allow"] is True
    assert rbac["explain"]["role"] == "reader"
    assert "allow" not in DATA["rbac"]  # merged into a copy
    assert read(ps, ("limits", "1")).value == 20
    assert read(ps, ("rbac", "explain", "checked", "0")).value == "roles"  # inside a decision
    assert not read(ps, ("rbac", "explain", "nothing")).defined
    assert not read(ps, ("limits", "7")).defined
    assert not read(ps, ("nowhere",)).defined


def test_generators_tuples_and_sets_answer_as_lists():
    """Like Rego's partial set rules (`mask contains ...`), a decision may yield its values."""
    ps = policy_set(mask, unique)
    assert read(ps, ("system", "log", "mask"), {"input": {"token": "t"}}).value == [
        "/input/password",
        {"op": "upsert", "path": "/input/token", "value": "***"},
    ]
    assert read(ps, ("sets", "unique")).value == [1, 2, 3]


def test_a_decision_that_raises_names_itself_and_what_ran():
    ps = policy_set(boom, unique)
    with pytest.raises(admit.EvaluationError, match=r"decision boom/now \(test/boom\) raised KeyError") as raised:
        read(ps, ())
    assert raised.value.rule == "test/boom"
    assert raised.value.location.endswith(f"test_document.py:{boom.__code__.co_firstlineno + 2}")
    assert [e.path for e in raised.value.evaluated][-1] == "boom/now"


def test_a_decision_may_take_input_and_data_but_nothing_more():
    with pytest.raises(admit.DefinitionError, match="optionally the bundle's data"):

        @admit.decision("too/many")
        def too_many(input, data, more):
            return True
