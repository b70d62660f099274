"""The `admit` command line: a group of thin commands over the loading layer and the core.

Exit codes, for CI: 0 ok, 1 an enforced rule failed or errored (or, with --fail-on-warn, a rule
warned; or tests failed), 2 usage or unreadable input, 3 the bundle failed to load, 4 the server
cannot start (port taken, TLS files unusable). Only `main` turns errors into exits.
"""

from __future__ import annotations

import importlib
import sys

import click

from admit import __version__
from admit.core.errors import AdmitError, BundleError

# Each command by name: the module and attribute that define it, imported when the command
# runs, so that `admit serve` loads the server and not YAML parsing, the cluster client or the
# certificate authority of other commands (its workers are forked with what it imported).
COMMANDS = {
    "check": "admit.cli.check:check",
    "audit": "admit.cli.audit:audit",
    "replay": "admit.cli.replay:replay_command",
    "serve": "admit.cli.serve:serve",
    "eval": "admit.cli.eval:eval_command",
    "build": "admit.cli.build:build",
    "certs": "admit.cli.install:certs",
    "manifests": "admit.cli.install:manifests",
    "uninstall": "admit.cli.install:uninstall",
    "test": "admit.cli.test:run_tests",
    "capture": "admit.cli.capture:capture_command",
    "kinds": "admit.cli.kinds:kinds",
    "completion": "admit.cli.completion:completion",
}


class LazyGroup(click.Group):
    """A group whose commands (`COMMANDS`) are imported when they are used; `--help` and shell
    completion of the group import them all, to list them."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands or cmd_name not in COMMANDS:
            return self.commands.get(cmd_name)
        module, attribute = COMMANDS[cmd_name].split(":")
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command)
        self.add_command(command, cmd_name)
        return command


EPILOG = """\b
Exit codes: 0 ok, 1 an enforced rule failed (or warned, with --fail-on-warn),
2 usage or unreadable input, 3 the policy bundle failed to load,
4 the server cannot start (port taken, TLS files unusable).
BUNDLE may be library:NAME for a bundle installed with admit (admit check library:top5 ...).
Shell completion: eval "$(admit completion bash)" (or zsh, fish).
"""


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=EPILOG,
)
@click.version_option(__version__, "--version", prog_name="admit")
def cli() -> None:
    """admit: Kubernetes admission policies, and any allow/deny decision, as plain Python.

    \b
    Check manifests offline against a bundle of rules:
      admit check examples/seed examples/seed/pods/
    Serve them as an admission webhook (HTTPS, self-signed for local use):
      admit serve examples/seed --self-signed
    """


def main(argv: list[str] | None = None) -> None:
    """Run the command line and exit with its code."""
    try:
        code = cli.main(args=argv, prog_name="admit", standalone_mode=False)
    except BundleError as exc:
        click.echo(
            f"admit: the policy bundle failed to load ({len(exc.problems)} problem"
            f"{'s' if len(exc.problems) != 1 else ''}):",
            err=True,
        )
        for problem in exc.problems:
            click.echo(f"  {problem}", err=True)
        sys.exit(exc.exit_code)
    except AdmitError as exc:
        click.echo(f"admit: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)
