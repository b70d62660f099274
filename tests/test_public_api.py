"""The public API is pinned, and `import admit` stays light."""

import subprocess
import sys

import admit

PUBLIC = {
    "MISSING",
    "AdmitError",
    "BundleError",
    "Cluster",
    "Container",
    "Decision",
    "DefinitionError",
    "EvaluationError",
    "InputError",
    "LabelSelector",
    "Match",
    "MutableObject",
    "PolicySet",
    "Problem",
    "Request",
    "Rule",
    "RuleResult",
    "UserInfo",
    "View",
    "Violation",
    "__version__",
    "decision",
    "evaluate",
    "mutate",
    "query",
    "validate",
    "warn",
}


def test_public_names_are_exactly_the_documented_ones():
    assert set(admit.__all__) == PUBLIC
    for name in PUBLIC:
        assert hasattr(admit, name), name


def test_import_admit_loads_only_the_standard_library_and_the_patch_library():
    code = (
        "import sys; before = set(sys.modules); import admit; "
        "print('\\n'.join(sorted(set(sys.modules) - before)))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout.split()
    third_party = {m.split(".")[0] for m in loaded} - set(sys.stdlib_module_names) - {"admit"}
    assert third_party <= {"jsonpatch", "jsonpointer"}, third_party
    forbidden = [m for m in loaded if m.startswith(("admit.cli", "admit.loading", "admit.server"))]
    assert not forbidden, forbidden
    assert "yaml" not in loaded
    assert "click" not in loaded


def test_admit_serve_loads_neither_other_commands_nor_their_libraries():
    """The webhook's workers are forked with what `admit serve` imported: the YAML-free,
    cluster-client-free and CA-free server, not every command of the CLI."""
    code = (
        "import sys; from admit.cli import cli; cli.get_command(None, 'serve'); "
        "print('\\n'.join(sorted(sys.modules)))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout.split()
    commands = {"admit.cli.check", "admit.cli.audit", "admit.cli.install", "admit.cli.replay"}
    assert not commands & set(loaded)
    libraries = {m.split(".")[0] for m in loaded} & {"cryptography", "lightkube", "jinja2"}
    assert not libraries, libraries
    assert "admit.console.app" not in loaded  # imported by the console process, if one runs


def test_admit_testing_exports_exactly_its_helpers():
    import admit.testing

    assert admit.testing.__all__ == ["check", "policy_set", "request", "run_cases"]
    for name in admit.testing.__all__:
        assert callable(getattr(admit.testing, name)), name
