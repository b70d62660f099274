"""The `admit` command line: a group of thin commands over the loading layer and the core.

Exit codes, for CI: 0 ok, 1 an enforced rule failed or errored (or, with --fail-on-warn, a rule
warned; or tests failed), 2 usage or unreadable input, 3 the bundle failed to load, 4 the server
cannot start (port taken, TLS files unusable). Only `main` turns errors into exits.
"""

from __future__ import annotations

import sys

import click

from admit import __version__
from admit.cli.audit import audit
from admit.cli.build import build
from admit.cli.capture import capture_command
from admit.cli.check import check
from admit.cli.completion import completion
from admit.cli.eval import eval_command
from admit.cli.install import certs, manifests, uninstall
from admit.cli.kinds import kinds
from admit.cli.replay import replay_command
from admit.cli.serve import serve
from admit.cli.test import run_tests
from admit.core.errors import AdmitError, BundleError

EPILOG = """\b
Exit codes: 0 ok, 1 an enforced rule failed (or warned, with --fail-on-warn),
2 usage or unreadable input, 3 the policy bundle failed to load,
4 the server cannot start (port taken, TLS files unusable).
BUNDLE may be library:NAME for a bundle installed with admit (admit check library:top5 ...).
Shell completion: eval "$(admit completion bash)" (or zsh, fish).
"""


@click.group(
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


cli.add_command(check)
cli.add_command(audit)
cli.add_command(replay_command, "replay")
cli.add_command(serve)
cli.add_command(eval_command)
cli.add_command(build)
cli.add_command(certs)
cli.add_command(manifests)
cli.add_command(uninstall)
cli.add_command(run_tests)
cli.add_command(capture_command)
cli.add_command(kinds)
cli.add_command(completion)


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
