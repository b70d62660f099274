import pytest

from tests.helpers import SEED
from tests.server.harness import make_tls, start_server


@pytest.fixture(scope="package")
def tls(tmp_path_factory):
    return make_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="package")
def seed_server(tmp_path_factory, tls):
    """The seed bundle served by two workers, shared by the tests that only send requests."""
    server = start_server(SEED, tmp_path_factory.mktemp("seed"), "--max-body", "65536",
                          "--client-timeout", "1", workers=2, tls=tls)  # fmt: skip
    yield server
    server.stop()
