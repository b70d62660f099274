"""`admit eval`: a decision or bundle data at a path, evaluated offline as the server's data API
(`POST /v1/data/{path}`) would answer it."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from admit.cli.options import BUNDLE, BUNDLE_HELP
from admit.core.document import UNDEFINED, path_segments, read
from admit.core.errors import InputError
from admit.loading.loader import load_bundle


def _read_input(path: str) -> Any:
    import yaml

    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text("utf-8")
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", path=path) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InputError(f"neither JSON nor YAML: {exc}", path=path) from None


@click.command("eval", epilog=BUNDLE_HELP)
@click.argument("bundle", type=BUNDLE)
@click.argument("path")
@click.option(
    "-i",
    "--input",
    "input_path",
    default=None,
    help="The input document (JSON or YAML file, - for stdin); without it, input is undefined "
    "and rules read it as missing.",
)
def eval_command(bundle: Path, path: str, input_path: str | None) -> int:
    """Evaluate the document at PATH (like POST /v1/data/PATH) and print {"result": ...}.

    PATH names a decision, bundle data, or a part of the document holding both, in any form
    OPA users write: data.httpapi.authz.allow, httpapi/authz/allow, data (everything).

    \b
    Example:
      admit eval policies/ data.httpapi.authz.allow --input request.json

    Prints {} when PATH is undefined. Exit codes: 0 evaluated, 1 the decision raised,
    2 usage or unreadable input, 3 the bundle failed to load.
    """
    segments = path_segments(path)
    policy_set = load_bundle(bundle)
    document = _read_input(input_path) if input_path else UNDEFINED
    answer = read(policy_set, segments, document)
    click.echo(json.dumps({"result": answer.value} if answer.defined else {}, indent=2))
    return 0
