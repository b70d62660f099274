"""`admit completion SHELL`: the script that makes a shell complete admit's commands, options
and arguments (bundle names from the library among them), by click's own completion."""

from __future__ import annotations

import click
from click.shell_completion import get_completion_class

SHELLS = ("bash", "zsh", "fish")
_INSTALL = {
    "bash": 'eval "$(admit completion bash)"     # in ~/.bashrc',
    "zsh": 'eval "$(admit completion zsh)"      # in ~/.zshrc',
    "fish": "admit completion fish > ~/.config/fish/completions/admit.fish",
}


@click.command()
@click.argument("shell", type=click.Choice(SHELLS))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> int:
    """Print the completion script for SHELL.

    \b
    Install it:
      bash:  eval "$(admit completion bash)"     # in ~/.bashrc
      zsh:   eval "$(admit completion zsh)"      # in ~/.zshrc
      fish:  admit completion fish > ~/.config/fish/completions/admit.fish
    """
    root = ctx.find_root().command
    cls = get_completion_class(shell)
    if cls is None:  # every SHELLS entry has one; a click without it is a broken install
        raise click.UsageError(f"this click has no {shell} completion")
    script = cls(root, {}, "admit", "_ADMIT_COMPLETE").source()
    click.echo(f"# admit completion for {shell}; install: {_INSTALL[shell]}")
    click.echo(script)
    return 0
