"""Options several commands share: a BUNDLE that may name the installed library
(`library:pss-restricted`), parameters from the command line (`--config`, `--set`) and the
wording of denials (`--message-format`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from click.shell_completion import CompletionItem

from admit.core.decision import DEFAULT_MESSAGE_FORMAT, MESSAGE_FIELDS, message_format_problem
from admit.policies import BUNDLES, library_path

LIBRARY = "library:"
F = TypeVar("F", bound=Callable[..., Any])
BUNDLE_HELP = (
    "BUNDLE is a directory of rules, or library:NAME for a bundle installed with admit ("
    + ", ".join(BUNDLES)
    + ")."
)


class BundlePath(click.ParamType[Path]):
    """A bundle directory, or `library:NAME` for one of the library's bundles."""

    name = "bundle"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Path:
        if isinstance(value, Path):
            return value
        text = str(value)
        if text.startswith(LIBRARY):
            try:
                return library_path(text[len(LIBRARY) :])
            except ValueError as exc:
                self.fail(str(exc), param, ctx)
        return Path(text)

    def shell_complete(
        self, ctx: click.Context, param: click.Parameter, incomplete: str
    ) -> list[CompletionItem]:
        names = [LIBRARY + name for name in BUNDLES]
        found = [CompletionItem(n) for n in names if n.startswith(incomplete)]
        return [*found, CompletionItem(incomplete, type="dir")]


BUNDLE = BundlePath()
FILE = click.Path(dir_okay=False, path_type=Path)
DIRECTORY = click.Path(file_okay=False, path_type=Path)


CONFIG_HELP = (
    "Overrides in admit.yaml's schema (policies: ...: parameters: ...), applied over the "
    "bundle's own admit.yaml. Repeatable."
)
SET_HELP = (
    "Set a parameter (or POLICY.RULE.PARAM, or action/on_error/enabled) over the bundle's "
    "admit.yaml; the value is YAML. Repeatable; applied after --config."
)
MESSAGE_FORMAT_HELP = (
    "How each denial and warning reads; may name "
    + ", ".join("{" + f + "}" for f in MESSAGE_FIELDS)
    + ". '[{policy}/{rule}] {message}' names the rule, as Kyverno and Gatekeeper do."
)


def overrides_options(func: F) -> F:
    """`--config FILE` and `--set POLICY.PARAMETER=VALUE`, repeatable, later ones winning."""
    func = click.option(
        "--set",
        "assignments",
        multiple=True,
        metavar="POLICY.PARAM=VALUE",
        help=SET_HELP,
    )(func)
    return click.option(
        "--config",
        "config_files",
        multiple=True,
        type=click.Path(dir_okay=False),
        metavar="FILE",
        help=CONFIG_HELP,
    )(func)


def check_message_format(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> str | None:
    """The option's callback: a format naming an unknown field is a usage error."""
    if value is None:
        return None
    problem = message_format_problem(value)
    if problem is not None:
        raise click.BadParameter(problem)
    return value


def message_format_option(func: F) -> F:
    return click.option(
        "--message-format",
        default=DEFAULT_MESSAGE_FORMAT,
        envvar="ADMIT_MESSAGE_FORMAT",
        show_default=True,
        callback=check_message_format,
        metavar="FORMAT",
        help=MESSAGE_FORMAT_HELP,
    )(func)
