"""--include/--exclude globs read as .gitignore reads them."""

import pytest

from admit.loading.globs import PathFilter, matches


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("Chart.yaml", "charts/web/Chart.yaml", True),
        ("values*.yaml", "charts/web/values-prod.yaml", True),
        ("templates", "charts/web/templates/pod.yaml", True),
        ("charts/*/templates", "charts/web/templates/pod.yaml", True),
        ("charts/*/templates", "other/charts/web/templates/pod.yaml", False),
        ("deploy/**/*.yaml", "deploy/a/b/c.yaml", True),
        ("deploy/**/*.yaml", "deploy/c.yaml", True),
        ("*.json", "deploy/c.yaml", False),
        ("./deploy/", "deploy/c.yaml", True),
        ("[!x]*.yaml", "a.yaml", True),
    ],
)
def test_a_glob_matches_names_anywhere_and_paths_from_the_top(pattern, path, expected):
    assert matches(pattern, path) is expected


def test_include_replaces_the_default_suffixes_and_exclude_wins():
    only = PathFilter(include=("*.k8s", "deploy/**"), exclude=("secret*",))
    yaml_suffixes = frozenset({".yaml"})
    assert only.admits("a/x.k8s", "/r/a/x.k8s", yaml_suffixes)
    assert only.admits("deploy/a.yaml", "/r/deploy/a.yaml", yaml_suffixes)
    assert not only.admits("a/x.yaml", "/r/a/x.yaml", yaml_suffixes)
    assert not only.admits("deploy/secret.yaml", "/r/deploy/secret.yaml", yaml_suffixes)
    assert PathFilter(exclude=("charts",)).prunes("charts")
