"""Fixtures of the install tests: one CA and serving certificate, the seed and a rich bundle."""

import pytest

from admit.kube.certs import make_ca, make_serving_cert, service_names
from admit.kube.install import InstallOptions, bundle_files
from admit.loading.loader import load_bundle
from tests.helpers import SEED, write_bundle
from tests.kube.rendering import RICH_FILES


@pytest.fixture(scope="module")
def ca():
    return make_ca()


@pytest.fixture(scope="module")
def serving(ca):
    return make_serving_cert(ca, service_names("admit", "pipy"))


@pytest.fixture(scope="module")
def seed():
    return load_bundle(SEED)


@pytest.fixture
def options(ca, serving):
    return InstallOptions(namespace="pipy", ca=ca, serving=serving, files=bundle_files(SEED))


@pytest.fixture(scope="module")
def rich(tmp_path_factory):
    return load_bundle(write_bundle(tmp_path_factory.mktemp("rich"), RICH_FILES))
