"""Views navigate decoded JSON safely and never copy it."""

from admit.core.views import MISSING, ListView, View


def test_absent_fields_read_as_missing_and_keep_navigating():
    pod = View({"spec": {"containers": []}})
    value = pod.spec.securityContext.runAsNonRoot
    assert value is MISSING
    assert value == None  # noqa: E711 - MISSING compares equal to None by design
    assert not value
    assert list(value) == []
    assert pod.spec.securityContext.get("runAsNonRoot", "default") == "default"


def test_views_wrap_in_place_and_index_like_mappings():
    raw = {"metadata": {"labels": {"app": "web"}}, "items": [{"a": 1}]}
    view = View(raw)
    assert view.metadata.labels.raw is raw["metadata"]["labels"]
    assert view["metadata"]["labels"]["app"] == "web"
    assert isinstance(view.items, ListView)
    assert view.items[0].a == 1
    assert view.metadata.labels == {"app": "web"}
    assert dict(view.metadata.labels) == {"app": "web"}


def test_views_are_read_only():
    view = View({"a": {"b": 1}})
    try:
        view["a"] = 2  # type: ignore[index]
    except TypeError:
        pass
    else:
        raise AssertionError("a view accepted an assignment")
