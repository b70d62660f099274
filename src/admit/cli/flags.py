"""A command's options declared on the fields of a frozen dataclass, so the command receives one
typed settings value instead of a parameter per option (hypercorn's `Config`, parsed by click).

A field made with `flag(...)` carries its option: flags, help, click type and environment
variable (`ADMIT_` and the option's name, unless it says otherwise); a field made with
`section(...)` holds a nested dataclass whose flags are a section of `--help`. `command(...)`
turns the dataclass into a click command that builds the value from the command line, then the
environment, then a `--settings` YAML file (keys are the long option names), then the defaults,
and calls the function with it. Names are checked once: an unknown key in the file is an error.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

ENV_PREFIX = "ADMIT_"
T = TypeVar("T")
D = TypeVar("D", bound="DataclassInstance")
Callback = Callable[[click.Context, click.Parameter, Any], Any]
_FLAG = "admit.flag"
_SECTION = "admit.section"


@dataclass(frozen=True, slots=True)
class Flag:
    """One field's option; `argument` makes it a positional argument instead."""

    decls: tuple[str, ...]
    default: object = None
    help: str | None = None
    type: click.ParamType[object] | tuple[click.ParamType[object], ...] | None = None
    envvar: str | None = None  # default: ADMIT_ and the name in capitals
    metavar: str | None = None
    multiple: bool = False
    is_flag: bool = False
    show_default: bool = True
    callback: Callback | None = None
    argument: bool = False

    @property
    def name(self) -> str:
        """The parameter's name: its first long flag as an identifier (`--tls-cert`: tls_cert)."""
        return self.decls[0].split("/")[0].lstrip("-").replace("-", "_")

    @property
    def key(self) -> str:
        """Its name in a settings file: the long flag without dashes (`tls-cert`)."""
        return self.name.replace("_", "-")

    @property
    def boolean(self) -> bool:
        """Whether it is an on/off flag (`--self-signed`, `--watch/--no-watch`)."""
        return self.is_flag or "/" in self.decls[0]

    @property
    def many(self) -> bool:
        """Whether it takes a list (repeatable, or several values at once)."""
        return self.multiple or isinstance(self.type, tuple)

    def parameter(self) -> click.Parameter:
        if self.argument:
            return click.Argument([self.name], type=self.type, required=False, default=self.default)
        return click.Option(
            [self.name, *self.decls],
            type=self.type,
            default=self.default,
            help=self.help,
            envvar=self.envvar or ENV_PREFIX + self.name.upper(),
            show_envvar=True,
            metavar=self.metavar,
            multiple=self.multiple,
            is_flag=self.is_flag or None,
            show_default=self.show_default,
            callback=self.callback,
        )


def flag(
    *decls: str,
    default: T,
    help: str,
    type: click.ParamType[object] | tuple[click.ParamType[object], ...] | None = None,
    envvar: str | None = None,
    metavar: str | None = None,
    multiple: bool = False,
    is_flag: bool = False,
    show_default: bool = True,
    callback: Callback | None = None,
) -> T:
    """A field read from the option `decls` (e.g. `"--port"`, `"--watch/--no-watch"`)."""
    spec = Flag(
        decls, default, help, type, envvar, metavar, multiple, is_flag, show_default, callback
    )
    return dataclasses.field(default=default, metadata={_FLAG: spec})


def argument(name: str, *, default: T, type: click.ParamType[object]) -> T:
    """A field read from an optional positional argument (shown as `[NAME]`)."""
    spec = Flag((name,), default, type=type, argument=True)
    return dataclasses.field(default=default, metadata={_FLAG: spec})


def section(title: str, cls: Callable[[], T]) -> T:
    """A field holding the nested settings `cls`, listed under `title` in --help."""
    return dataclasses.field(default_factory=cls, metadata={_SECTION: title})


def _section_type(field: dataclasses.Field[object]) -> type[DataclassInstance]:
    nested = field.default_factory
    assert isinstance(nested, type)
    assert dataclasses.is_dataclass(nested)
    return nested


def _flags(cls: type[DataclassInstance]) -> Iterator[tuple[str, Flag]]:
    """Every flag of `cls` and its sections, in declaration order, with its section's title."""
    for field in dataclasses.fields(cls):
        if (spec := field.metadata.get(_FLAG)) is not None:
            yield "" if spec.argument else "Options", spec
        elif (title := field.metadata.get(_SECTION)) is not None:
            for _, inner in _flags(_section_type(field)):
                yield title, inner


def build(cls: type[D], values: Mapping[str, object]) -> D:
    """`cls` (a dataclass of flags and sections) from parsed values, by parameter name."""
    given: dict[str, object] = {}
    for field in dataclasses.fields(cls):
        if (spec := field.metadata.get(_FLAG)) is not None:
            given[field.name] = values[spec.name]
        elif field.metadata.get(_SECTION) is not None:
            given[field.name] = build(_section_type(field), values)
    return cls(**given)


class SettingsCommand(click.Command):
    """A command called with one settings value; its --help lists the options by section."""

    def __init__(
        self,
        name: str,
        run: Callable[[Mapping[str, object]], int],
        sections: list[tuple[str, list[click.Parameter]]],
        *,
        help: str | None,
        epilog: str | None,
    ) -> None:
        params = [p for _, section_params in sections for p in section_params]
        super().__init__(name, params=params, help=help, epilog=epilog)
        self.run = run
        self.sections = sections

    def invoke(self, ctx: click.Context) -> int:
        return self.run(ctx.params)

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        listed = {id(p) for _, params in self.sections for p in params}
        rest = [p for p in self.get_params(ctx) if id(p) not in listed]  # --help
        for title, params in self.sections:
            rows = [
                record
                for p in (params + rest if title == "Options" else params)
                if not isinstance(p, click.Argument) and (record := p.get_help_record(ctx))
            ]
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


def command(
    cls: type[D], *, epilog: str | None = None
) -> Callable[[Callable[[D], int]], SettingsCommand]:
    """Make the function a command taking one `cls`, its options generated from the fields."""
    found = list(_flags(cls))
    by_key = {spec.key: spec for _, spec in found}
    sections: dict[str, list[click.Parameter]] = {"": []}  # "": arguments, in the usage line only
    for title, spec in found:
        sections.setdefault(title, []).append(spec.parameter())
    sections.setdefault("Options", []).append(_settings_option(by_key))

    def decorate(function: Callable[[D], int]) -> SettingsCommand:
        return SettingsCommand(
            function.__name__,
            lambda values: function(build(cls, values)),
            list(sections.items()),
            help=function.__doc__,
            epilog=epilog,
        )

    return decorate


def _settings_option(flags: Mapping[str, Flag]) -> click.Option:
    """`--settings FILE`: defaults for every other option, read before them (eager)."""

    def read(ctx: click.Context, param: click.Parameter, path: Path | None) -> Path | None:
        if path is not None:
            ctx.default_map = {**(ctx.default_map or {}), **read_settings(ctx, path, flags)}
        return path

    return click.Option(
        ["--settings"],
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        metavar="FILE",
        envvar=ENV_PREFIX + "SETTINGS",
        show_envvar=True,
        is_eager=True,
        expose_value=False,
        callback=read,
        help="Read settings from this YAML file: keys are the long option names (port: 8443, "
        "tls-cert: tls.crt, san: [a, b]); the command line and environment variables win over "
        "it, and paths are relative to the working directory, as on the command line.",
    )


def read_settings(ctx: click.Context, path: Path, flags: Mapping[str, Flag]) -> dict[str, object]:
    """A settings file's values by parameter name, each checked as its option checks a value
    (range, choice...); every problem is a usage error, with its line."""
    import yaml

    from admit.loading.yamlfile import LineDict, error_line, error_text, load_one

    try:
        data = load_one(path.read_text("utf-8"))
    except OSError as exc:
        raise click.BadParameter(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise click.BadParameter(f"{path} is not UTF-8 text") from None
    except yaml.YAMLError as exc:
        line = error_line(exc)
        where = f"{path}:{line}" if line else str(path)
        raise click.BadParameter(f"{where}: not YAML: {error_text(exc)}") from None
    if data is None:
        return {}
    if not isinstance(data, LineDict):
        raise click.BadParameter(
            f"{path}: settings are a mapping of option names to values (port: 8443)"
        )
    parameters = {p.name: p for p in ctx.command.params}
    values: dict[str, object] = {}
    problems = []
    for key, value in data.items():
        where = f"{path}:{data.line_of(key)}"
        spec = flags.get(str(key))
        if spec is None:
            close = difflib.get_close_matches(str(key), flags, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            problems.append(
                f"{where}: unknown setting {key!r}{hint}; settings are named as the long "
                "options of --help"
            )
        elif (problem := _shape_problem(spec, value)) is not None:
            problems.append(f"{where}: {key}: {problem}")
        else:
            try:
                parameters[spec.name].type_cast_value(ctx, value)
            except click.BadParameter as exc:
                problems.append(f"{where}: {key}: {exc.message}")
            values[spec.name] = value
    if len(problems) > 1:
        raise click.BadParameter(f"{len(problems)} problems:\n  " + "\n  ".join(problems))
    if problems:
        raise click.BadParameter(problems[0])
    return values


def _shape_problem(spec: Flag, value: object) -> str | None:
    """Why `value` cannot be the option's (a list for a single value, a mapping...)."""
    if isinstance(value, dict):
        return "a mapping is not a value; write the option's value as on the command line"
    if spec.many != isinstance(value, list):
        return "expected a list" if spec.many else "expected a single value, not a list"
    if isinstance(value, bool) and not spec.boolean and spec.type is None:
        return f"{str(value).lower()} is a boolean in YAML; quote the text meant"
    return None
