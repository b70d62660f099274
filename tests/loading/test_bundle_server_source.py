"""The bundle server source on its own: what each poll does with what the server answers."""

import json

from admit.loading.bundle_server import BundleServerSettings, BundleServerSource, default_name
from admit.loading.publisher import Publisher
from admit.loading.tarball import MANIFEST, pack
from admit.loading.versions import RunDirectory
from tests.helpers import SEED
from tests.server.harness import free_port
from tests.server.local_http import BundleHost

FILES = [("trusted_images.py", (SEED / "trusted_images.py").read_bytes()), (MANIFEST, json.dumps({"revision": "r1"}).encode())]


def source_for(url, tmp_path):
    publisher = Publisher(RunDirectory(tmp_path / "run"), url, name=default_name(url))
    return BundleServerSource(BundleServerSettings(url), publisher), publisher


def test_a_server_without_etags_is_not_reloaded_for_the_same_bytes(tmp_path):
    host = BundleHost(free_port(), etags=False).start()
    try:
        host.publish(pack(FILES))
        source, publisher = source_for(host.url, tmp_path)
        first = source.check()
        assert first is not None
        assert first.result == "ok"
        assert publisher.run.published().revision == "r1"
        assert source.check() is None  # downloaded again, recognised, not offered again
        assert len(publisher.history) == 1
        assert "If-None-Match" not in host.requests[-1]
    finally:
        host.stop()


def test_unreachable_and_missing_bundles_are_reported_and_change_nothing(tmp_path):
    host = BundleHost(free_port()).start()
    try:
        source, publisher = source_for(host.url, tmp_path)
        assert source.check() is None
        assert source.status["last_error"] == f"{host.url} answered HTTP 404"
    finally:
        host.stop()
    assert source.check() is None
    assert source.status["last_error"].startswith(f"cannot download {host.url}: ")
    assert publisher.run.published() is None
    assert publisher.status()["bundle_server"]["last_error"] == source.status["last_error"]


def test_a_bundles_name_comes_from_its_url():
    assert default_name("https://bundles.example/v1/authz.tar.gz?sig=x") == "authz"
    assert default_name("http://h/bundle.tgz") == "bundle"
    assert default_name("http://h/") == "bundle"
