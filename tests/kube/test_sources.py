"""Policies from labelled ConfigMaps, against recorded list/watch answers of kube-apiserver."""

import asyncio
import json

import orjson

import admit
from admit.kube.sources import STATUS_ANNOTATION, ConfigMapSource
from admit.loading.publisher import Publisher
from admit.loading.store import PolicyStore
from admit.loading.versions import RunDirectory
from admit.testing import request
from tests.helpers import SEED, pod
from tests.kube.fake_apiserver import FakeAPIServer, Script, recorded
from tests.kube.test_reflector import until

PATH = "/api/v1/namespaces/default/configmaps"
SELECTOR = "example.com/policy=true"


class Followed:
    """A ConfigMap source and a store that serves what it publishes."""

    def __init__(self, source, store):
        self.source, self.store = source, store

    def current(self):
        self.store.refresh()
        return self.store.current()

    def status(self):
        return self.source.publisher.status()


def follow(script, tmp_path, predicate):
    async def scenario():
        with FakeAPIServer({PATH: script}) as api:
            from admit.kube.api import connect

            run = RunDirectory(tmp_path / "run")
            source = ConfigMapSource(
                lambda: connect(api.kubeconfig(tmp_path)),
                ["default"],
                SELECTOR,
                Publisher(run, "configmaps", timeout=5),
            )
            followed = Followed(source, PolicyStore(run))
            task = asyncio.ensure_future(source.watch())
            await until(lambda: predicate(followed, script))
            task.cancel()
            await asyncio.sleep(0.01)
            return followed

    return asyncio.run(scenario())


def statuses(script):
    return [
        (name, json.loads(json.loads(body)["metadata"]["annotations"][STATUS_ANNOTATION]))
        for name, body in script.patches
    ]


def test_recorded_configmap_changes_are_followed_and_annotated(tmp_path):
    script = recorded(
        "configmaps-default-labelselector.json", "configmaps-default-labelselector.jsonl"
    )
    script.event_gap = 0.5  # each state lasts long enough to be loaded and annotated
    source = follow(
        script, tmp_path, lambda s, sc: sc.watches >= 2 and not s.status().get("configmaps")
    )
    assert script.requests[0]["labelSelector"] == [SELECTOR]
    names = sorted(name for name, _ in statuses(script))
    # policy-a's data changed once; policy-b's change of an annotation is no reason to reload
    assert names == ["policy-a", "policy-a", "policy-b", "policy-base"]
    assert all(status["status"] == "ok" and status["rules"] == 0 for _, status in statuses(script))
    assert source.current().rules == ()  # everything was deleted in the end


def _list_with(files):
    document = orjson.loads(
        recorded(
            "configmaps-default-labelselector.json", "configmaps-default-labelselector.jsonl"
        ).list_body
    )
    document["items"][0]["data"] = files
    return orjson.dumps(document)


def _added(name, files, version):
    obj = json.loads(
        recorded(
            "configmaps-default-labelselector.json", "configmaps-default-labelselector.jsonl"
        ).watch_events[0]
    )
    obj["object"]["metadata"].update(name=name, resourceVersion=version)
    obj["object"]["data"] = files
    return json.dumps(obj).encode() + b"\n"


def test_rules_from_configmaps_decide_and_a_broken_one_leaves_the_others_serving(tmp_path):
    rules = {"images.py": (SEED / "trusted_images.py").read_text()}
    broken = {"broken.py": "import admit\n\ndef x(:\n"}
    script = Script(_list_with(rules), [_added("policy-broken", broken, "500")], event_gap=2.0)
    source = follow(script, tmp_path, lambda s, sc: len(sc.patches) >= 2)
    decision = admit.evaluate(source.current(), request(pod("nginx:1.21.1")))
    assert decision.denials == ("nginx:1.21.1 repo not start with 192.168.64.1",)
    assert [r.key for r in source.current().rules] == [
        "policy-base.images/trusted_registry",
        "policy-base.images/disallow_latest_tag",
    ]
    found = dict(statuses(script))
    assert found["policy-base"]["status"] == "ok"
    assert found["policy-base"]["rules"] == 2
    assert found["policy-broken"] == {
        "status": "error",
        "problems": ["broken.py:3: syntax_error: invalid syntax"],
    }
    assert source.status()["last_error"]["problems"] == [
        "default/policy-broken: broken.py:3: syntax_error: invalid syntax"
    ]
