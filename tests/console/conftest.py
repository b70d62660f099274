"""The console's shared fixtures: a seed bundle published as `admit serve` publishes it, and
the console app over it, called in-process."""

import pytest

from admit.console.app import ConsoleApp
from admit.console.decisions import DecisionFeed
from admit.console.stats import MetricsHistory
from admit.core.engine import evaluate
from tests.helpers import SEED, Published, write_bundle


@pytest.fixture
def bundle(tmp_path):
    rules = (SEED / "trusted_images.py").read_text()
    config = "policies:\n  trusted-images:\n    rules:\n      trusted_registry:\n        parameters:\n          repo_prefix: registry.example.com\n"
    return write_bundle(tmp_path / "b", {"trusted_images.py": rules, "admit.yaml": config})


@pytest.fixture
def app(bundle, tmp_path):
    published = Published(bundle, tmp_path / "run")
    feed = DecisionFeed(tmp_path / "unused.sock")
    app = ConsoleApp(published.store, feed, MetricsHistory(None), lambda ps, r: evaluate(ps, r))
    app.published = published
    return app
