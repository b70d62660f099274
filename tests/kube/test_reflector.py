"""The cluster cache's list+watch against recorded kube-apiserver responses."""

import asyncio

import httpx2 as httpx

from admit.core.match import KindPattern
from admit.kube.api import connect
from admit.kube.cluster_cache import ClusterCache, watchable
from admit.kube.reflector import Reflector
from admit.loading.builtin_kinds import builtin_kinds
from tests.kube.fake_apiserver import FakeAPIServer, recorded

INGRESSES = "/apis/networking.k8s.io/v1/ingresses"


class RecordingStore(dict):
    """A store that remembers every change the reflector made to it."""

    def __init__(self):
        super().__init__()
        self.changes = []

    def __setitem__(self, key, value):
        self.changes.append(("set", key, value["metadata"]["resourceVersion"]))
        super().__setitem__(key, value)

    def pop(self, key, *default):
        self.changes.append(("delete", key))
        return super().pop(key, *default)


def ingress_script():
    return recorded("ingresses-all-namespaces.json", "ingresses-all-namespaces.jsonl")


async def until(predicate, timeout=5.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


def test_list_then_watch_applies_every_event_and_relists_on_410():
    script = ingress_script()

    async def scenario():
        with FakeAPIServer({INGRESSES: script}) as api:
            async with httpx.AsyncClient(base_url=api.url) as client:
                store = RecordingStore()
                reflector = Reflector(client, INGRESSES, store)
                task = asyncio.ensure_future(reflector.run())
                await until(lambda: script.watches >= 3)
                task.cancel()
                return store, reflector

    store, reflector = asyncio.run(scenario())
    assert store.changes == [
        ("set", ("team-a", "api"), "419"),
        ("set", ("team-a", "api"), "420"),
        ("delete", ("team-a", "api")),
    ]
    assert sorted(store) == [("default", "web")]
    assert script.lists == 2  # the 410 ERROR event made it list again
    first_watch = script.requests[1]
    assert first_watch["resourceVersion"] == ["418"]
    assert first_watch["allowWatchBookmarks"] == ["true"]
    assert script.requests[2]["resourceVersion"] == ["421"]  # resumed after the bookmark
    assert store[("default", "web")]["kind"] == "Ingress"  # list items get their kind back
    assert "managedFields" not in store[("default", "web")]["metadata"]
    assert reflector.status.synced


def test_errors_back_off_and_recover():
    script = ingress_script()
    script.fail_next = 2

    async def scenario():
        with FakeAPIServer({INGRESSES: script}) as api:
            async with httpx.AsyncClient(base_url=api.url) as client:
                reflector = Reflector(client, INGRESSES, {}, backoff_max=0.2)
                task = asyncio.ensure_future(reflector.run())
                await until(lambda: reflector.status.synced)
                task.cancel()
                return reflector

    reflector = asyncio.run(scenario())
    assert reflector.status.errors == 2
    assert "500" in reflector.status.last_error


def test_the_cache_watches_declared_kinds_through_a_kubeconfig(tmp_path):
    script = ingress_script()

    async def scenario():
        with FakeAPIServer({INGRESSES: script}) as api:
            kubeconfig = api.kubeconfig(tmp_path)
            cache = ClusterCache(lambda: connect(kubeconfig))
            task = asyncio.ensure_future(
                cache.follow(lambda: [read("networking.k8s.io/v1/Ingress")])
            )
            await until(lambda: cache.synced and cache.reflectors)
            names = [i.metadata.name for i in cache.cluster.list("Ingress")]
            status = cache.status()
            task.cancel()
            await asyncio.sleep(0)
            return names, status

    names, status = asyncio.run(scenario())
    assert names == ["web"]
    assert status["networking.k8s.io/Ingress"]["synced"] is True


def read(text):
    """A `reads=` kind as the loader resolves it."""
    return builtin_kinds().resolve_read(KindPattern.parse(text))


def test_only_kinds_resolved_to_one_resource_can_be_watched():
    assert "name the group, version and kind" in watchable(KindPattern.parse("Ingress"))
    assert "name the group, version and kind" in watchable(KindPattern.parse("v1/Namespace"))
    assert watchable(read("v1/Namespace")) is None
