"""Hot reload: changes go live after a complete load; a broken change never replaces a good set."""

import asyncio
import time

import admit
from admit.loading.loader import load_bundle
from admit.loading.reload import BundleWatcher
from admit.testing import request
from tests.configmap import ConfigMapVolume
from tests.helpers import pod

RULE = """
import admit

@admit.validate("Pod")
def registry(request, *, prefix: str = "{prefix}"):
    for c in request.containers:
        if not c.image.startswith(prefix):
            yield f"{{c.image}} is not from {{prefix}}"
"""


def version(prefix):
    return {"registry.py": RULE.format(prefix=prefix)}


def denials(watcher, image):
    return admit.evaluate(watcher.current(), request(pod(image))).denials


def start(tmp_path, prefix="ghcr.io/"):
    volume = ConfigMapVolume(tmp_path / "bundle")
    volume.publish(version(prefix))
    watcher = BundleWatcher(volume.root, load_bundle(volume.root))
    assert watcher.check() is None  # the initial set is already current
    return volume, watcher


def test_a_published_change_is_loaded_and_swapped_in(tmp_path):
    volume, watcher = start(tmp_path)
    assert denials(watcher, "ghcr.io/a:1") == ()
    volume.publish(version("quay.io/"))
    event = watcher.check()
    assert event.result == "ok"
    assert event.digest == watcher.current().digest
    assert denials(watcher, "ghcr.io/a:1") == ("ghcr.io/a:1 is not from quay.io/",)


def test_a_broken_change_keeps_the_last_good_set_and_says_where(tmp_path):
    volume, watcher = start(tmp_path)
    good = watcher.current()
    volume.publish({"registry.py": "import admit\n\ndef broken(:\n"})
    event = watcher.check()
    assert event.result == "error"
    assert event.problems == ("registry.py:3: syntax_error: invalid syntax",)
    assert watcher.current() is good
    assert watcher.status()["last_error"]["problems"] == [
        "registry.py:3: syntax_error: invalid syntax"
    ]
    assert watcher.check() is None  # the same broken content is not retried
    volume.publish(version("quay.io/"))
    assert watcher.check().result == "ok"
    assert watcher.status()["last_error"] is None
    assert [e["result"] for e in watcher.status()["history"]] == ["error", "ok"]


def test_a_touch_without_a_content_change_does_not_reload(tmp_path):
    volume, watcher = start(tmp_path)
    volume.publish(version("ghcr.io/"))  # same content, new directory and inodes
    assert watcher.check() is None


def test_watch_reloads_within_a_second_of_the_swap(tmp_path):
    volume, watcher = start(tmp_path)

    async def scenario():
        task = asyncio.ensure_future(watcher.watch(poll_interval=1.0))
        await asyncio.sleep(0.3)
        swapped = time.monotonic()
        volume.publish(version("quay.io/"))
        while denials(watcher, "quay.io/a:1") != ():
            await asyncio.sleep(0.01)
            assert time.monotonic() - swapped < 1.0
        task.cancel()
        return time.monotonic() - swapped

    assert asyncio.run(scenario()) < 1.0
