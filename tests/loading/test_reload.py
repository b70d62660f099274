"""Hot reload: a changed bundle is published after it loaded in the sandbox; a broken change, or
a module that exits, loops or forks at import, never replaces the good version."""

import asyncio
import threading
import time
from pathlib import Path

import pytest

import admit
from admit.loading.loader import load_bundle
from admit.loading.publisher import Publisher
from admit.loading.reload import DirectorySource, read_bundle
from admit.loading.store import PolicyStore
from admit.loading.versions import RunDirectory
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


class Server:
    """The source side (directory source, publisher) and one worker's store, on one run dir."""

    def __init__(self, tmp_path, prefix="ghcr.io/"):
        self.volume = ConfigMapVolume(tmp_path / "bundle")
        self.volume.publish(version(prefix))
        self.run = RunDirectory(tmp_path / "run")
        self.publisher = Publisher(self.run, "bundle", timeout=3)
        self.source = DirectorySource(self.volume.root, self.publisher)
        assert self.source.check().result == "ok"
        self.store = PolicyStore(self.run)
        assert self.store.refresh()

    def publish(self, files):
        self.volume.publish(files)
        event = self.source.check()
        self.store.refresh()
        return event

    def denials(self, image):
        return admit.evaluate(self.store.current(), request(pod(image))).denials


def test_a_published_change_is_loaded_and_swapped_in(tmp_path):
    server = Server(tmp_path)
    assert server.denials("ghcr.io/a:1") == ()
    event = server.publish(version("quay.io/"))
    assert event.result == "ok"
    assert event.digest == server.store.current().digest
    assert server.denials("ghcr.io/a:1") == ("ghcr.io/a:1 is not from quay.io/",)


def test_the_published_digest_is_the_bundles_own(tmp_path):
    server = Server(tmp_path)
    assert server.store.current().digest == load_bundle(server.volume.root).digest


def test_a_broken_change_keeps_the_last_good_set_and_says_where(tmp_path):
    server = Server(tmp_path)
    good = server.store.current()
    event = server.publish({"registry.py": "import admit\n\ndef broken(:\n"})
    assert event.result == "error"
    assert event.problems == ("registry.py:3: syntax_error: invalid syntax",)
    assert server.store.current() is good
    status = server.store.status()
    assert status["last_error"]["problems"] == ["registry.py:3: syntax_error: invalid syntax"]
    assert status["served"]["digest"] == good.digest  # the served version, not the broken one
    assert status["last_error"]["digest"] != good.digest
    assert server.source.check() is None  # the same broken content is not retried
    assert server.publish(version("quay.io/")).result == "ok"
    assert server.store.status()["last_error"] is None
    assert [e["result"] for e in server.store.status()["history"]] == ["ok", "error", "ok"]


@pytest.mark.parametrize(
    ("module", "problem"),
    [
        ("import sys\nsys.exit(3)\n", "bad.py:2: import_error: SystemExit: 3"),
        (
            "import os\nos._exit(3)\n",
            "bad.py: load_failed: the loading process exited with code 3 while importing this "
            "module",
        ),
        (
            "while True:\n    pass\n",
            "bad.py: load_failed: the bundle did not finish loading within 3s (a module that "
            "loops or blocks at import?)",
        ),
        ("x = bytearray(8 * 1024**3)\n", "bad.py:1: import_error: MemoryError: "),
    ],
    ids=["sys.exit", "os._exit", "loop", "memory"],
)
def test_a_module_that_ends_or_jams_its_process_at_import_is_a_failed_load(
    tmp_path, module, problem
):
    server = Server(tmp_path)
    good = server.store.current()
    started = time.monotonic()
    event = server.publish({**version("quay.io/"), "bad.py": module})
    assert event.result == "error"
    assert event.problems == (problem,)
    assert time.monotonic() - started < 6
    assert server.store.current() is good
    assert server.denials("ghcr.io/a:1") == ()


def test_a_process_forked_at_import_does_not_outlive_the_load(tmp_path):
    server = Server(tmp_path)
    marker = tmp_path / "forked.pid"
    forking = (
        "import os, time\n"
        "if os.fork() == 0:\n"
        f"    open({str(marker)!r} + '.tmp', 'w').write(str(os.getpid()))\n"
        f"    os.rename({str(marker)!r} + '.tmp', {str(marker)!r})\n"
        "    time.sleep(60)\n"
        "    os._exit(0)\n"
        f"while not os.path.exists({str(marker)!r}):  # the load goes on once the child is up\n"
        "    time.sleep(0.01)\n"
    )
    server.volume.publish({**version("quay.io/"), "forks.py": forking})
    assert server.source.check().result == "ok"  # only the sandbox has imported it
    deadline = time.monotonic() + 5
    pid = int(marker.read_text())
    while running(pid):  # the sandbox's whole process group was killed after the load
        assert time.monotonic() < deadline, "the forked process outlived the load"
        time.sleep(0.05)


def running(pid):
    """Whether `pid` is alive (a zombie left for init to reap is not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def test_a_touch_without_a_content_change_does_not_reload(tmp_path):
    server = Server(tmp_path)
    assert server.publish(version("ghcr.io/")) is None  # same content, new directory and inodes


def test_files_are_read_from_one_version_while_the_link_swaps(tmp_path):
    """A kubelet swap between reading two files must not mix versions in one load."""
    volume = ConfigMapVolume(tmp_path / "bundle")
    files = {f"m{i}.py": "A\n" for i in range(20)}
    volume.publish(files)
    stop = threading.Event()

    def swap():
        n = 0
        while not stop.is_set():
            n += 1
            volume.publish(dict.fromkeys(files, f"{'AB'[n % 2]}\n"))

    swapper = threading.Thread(target=swap)
    swapper.start()
    mixed = reads = 0
    try:
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            try:
                contents = {data for _, data in read_bundle(volume.root)}
            except OSError:
                continue  # the version being read was removed: the next check reads again
            reads += 1
            mixed += len(contents) > 1
    finally:
        stop.set()
        swapper.join()
    assert reads > 20
    assert mixed == 0


def test_watch_publishes_within_a_second_of_the_swap(tmp_path):
    server = Server(tmp_path)

    async def scenario():
        task = asyncio.ensure_future(server.source.watch(poll_interval=1.0))
        follow = asyncio.ensure_future(server.store.follow())
        await asyncio.sleep(0.3)
        swapped = time.monotonic()
        server.volume.publish(version("quay.io/"))
        while server.denials("quay.io/a:1") != ():
            await asyncio.sleep(0.01)
            assert time.monotonic() - swapped < 2.0
        task.cancel()
        follow.cancel()
        return time.monotonic() - swapped

    assert asyncio.run(scenario()) < 2.0


TESTS = """
cases:
- name: ghcr images pass
  resource: {apiVersion: v1, kind: Pod, metadata: {name: a}, spec: {containers: [{name: a, image: ghcr.io/a:1}]}}
  allowed: true
"""


def test_with_required_tests_a_version_whose_tests_fail_is_a_failed_load(tmp_path):
    server = Server(tmp_path)
    server.publisher.require_tests = True
    tested = {**version("ghcr.io/"), "registry_test.yaml": TESTS}
    assert server.publish(tested).result == "ok"
    good = server.store.current()
    event = server.publish({**tested, "registry.py": RULE.format(prefix="quay.io/")})
    assert event.result == "error"
    assert event.problems == (
        "registry_test.yaml:3: test_failed: ghcr images pass: decision: allowed expected "
        "true, got false",
    )
    assert server.store.current() is good
