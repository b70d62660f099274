"""`admit serve`'s options for what OPA users configure: the default decision, decision logs
(what each event holds, and shipping them to a service) and bundles from a bundle server. Each
group of flags reaches the command as one value (`OpaServing`, `BundleServer`), so `serve`
stays readable.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

from admit import __version__

F = TypeVar("F", bound=Callable[..., Any])
MiB = 1024 * 1024
FILE = click.Path(dir_okay=False, path_type=Path)


@dataclass(frozen=True)
class OpaServing:
    """What `serve` hands the server: the default decision, the decision-log settings
    (`DecisionLogSettings`) and the upload settings (`UploadSettings`, or None)."""

    default_decision: str
    decision_logs: Any
    decision_upload: Any


def _label(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    labels = {}
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{value!r} is not KEY=VALUE")
        labels[key] = text
    return labels


_SERVING_OPTIONS = (
    click.option(
        "--default-decision",
        default="system/main",
        show_default=True,
        envvar="ADMIT_DEFAULT_DECISION",
        metavar="PATH",
        help="The decision POST / answers with the request body as its input (OPA's "
        "default_decision).",
    ),
    click.option(
        "--label",
        "labels",
        multiple=True,
        callback=_label,
        metavar="KEY=VALUE",
        help="A label of this server in every decision-log event, beside id and version "
        "(OPA's labels). Repeatable.",
    ),
    click.option(
        "--decision-log-input/--no-decision-log-input",
        "--decision-log-requests",
        "decision_log_input",
        default=False,
        show_default=True,
        envvar="ADMIT_DECISION_LOG_INPUT",
        help="Log each decision's input (an admission's AdmissionReview, Secret data and the "
        "last-applied annotation redacted), as OPA does, so `admit replay` and `admit capture` "
        "can judge the traffic again. Off by default: it costs 50-110k instructions a request "
        "(bench/README.md).",
    ),
    click.option(
        "--decision-log-mask",
        "masks",
        multiple=True,
        metavar="POINTER",
        help="Erase this JSON pointer (under /input or /result) from every decision-log event, "
        "as OPA's system.log.mask (a bundle may define that decision too). Repeatable.",
    ),
    click.option(
        "--decision-log-max-event",
        type=click.IntRange(1024),
        default=MiB,
        show_default=True,
        metavar="BYTES",
        help="Largest decision-log event: a larger one loses its input, then its result "
        "(listed in `erased`), else it is dropped and counted.",
    ),
    click.option(
        "--decision-log-url",
        default=None,
        envvar="ADMIT_DECISION_LOG_URL",
        show_envvar=True,
        metavar="URL",
        help="Also POST decision-log events to this service, in gzip batches, as OPA's decision "
        "log plugin does (the URL includes the path, e.g. https://logs.example/logs).",
    ),
    click.option(
        "--decision-log-token-file",
        type=FILE,
        default=None,
        envvar="ADMIT_DECISION_LOG_TOKEN_FILE",
        help="Send the bearer token in this file with each upload (re-read each time).",
    ),
    click.option(
        "--decision-log-ca",
        type=FILE,
        default=None,
        help="The CA certificate (PEM) of an https --decision-log-url.",
    ),
    click.option(
        "--decision-log-delay",
        type=(click.FloatRange(0.1), click.FloatRange(0.1)),
        default=(5.0, 10.0),
        show_default=True,
        metavar="MIN MAX",
        help="Seconds between uploads, at random in [MIN, MAX] (OPA's min/max_delay_seconds); "
        "a full batch goes at once.",
    ),
    click.option(
        "--decision-log-buffer",
        type=click.IntRange(64 * 1024),
        default=32 * MiB,
        show_default=True,
        metavar="BYTES",
        help="Events each worker keeps while the service is slow or down; past it the oldest "
        "are dropped and counted (admit_decision_log_events_total{outcome=\"dropped\"}).",
    ),
    click.option(
        "--decision-log-upload-limit",
        type=click.IntRange(1024),
        default=32 * 1024,
        show_default=True,
        metavar="BYTES",
        help="Largest upload body, compressed (OPA's upload_size_limit_bytes).",
    ),
)


def opa_serving_options(func: F) -> F:
    """The OPA-facing options of `serve`, handed to it as `opa: OpaServing`."""

    @functools.wraps(func)
    def packed(*args: Any, **kwargs: Any) -> Any:
        from admit.server.decision_log import DecisionLogSettings
        from admit.server.decision_upload import UploadSettings

        labels = {"id": str(uuid.uuid4()), "version": __version__, **kwargs.pop("labels")}
        minimum, maximum = kwargs.pop("decision_log_delay")
        url, token = kwargs.pop("decision_log_url"), kwargs.pop("decision_log_token_file")
        ca, buffer = kwargs.pop("decision_log_ca"), kwargs.pop("decision_log_buffer")
        limit = kwargs.pop("decision_log_upload_limit")
        try:
            settings = DecisionLogSettings(
                labels=labels,
                include_input=kwargs.pop("decision_log_input"),
                mask=tuple(kwargs.pop("masks")),
                max_event_bytes=kwargs.pop("decision_log_max_event"),
            )
            upload = None
            if url is not None:
                upload = UploadSettings(url, token_file=token, ca_file=ca, min_delay=minimum,
                                        max_delay=maximum, buffer_bytes=buffer,
                                        upload_bytes=limit)  # fmt: skip
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
        opa = OpaServing(kwargs.pop("default_decision"), settings, upload)
        return func(*args, opa=opa, **kwargs)

    for option in reversed(_SERVING_OPTIONS):
        packed = option(packed)
    return packed  # type: ignore[return-value]


@dataclass(frozen=True)
class BundleServer:
    """`--bundle-url` and how to poll it; `settings` builds the loader's settings."""

    url: str
    name: str
    token_file: Path | None
    ca_file: Path | None
    delay: tuple[float, float]
    verification_key: Path | None

    def settings(self) -> Any:
        from admit.loading.bundle_server import BundleServerSettings
        from admit.loading.signing import Verifier

        verifier = Verifier(self.verification_key) if self.verification_key else None
        try:
            return BundleServerSettings(
                self.url, name=self.name, token_file=self.token_file, ca_file=self.ca_file,
                min_delay=self.delay[0], max_delay=self.delay[1], verifier=verifier,
            )  # fmt: skip
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None


_BUNDLE_OPTIONS = (
    click.option(
        "--bundle-url",
        default=None,
        envvar="ADMIT_BUNDLE_URL",
        show_envvar=True,
        metavar="URL",
        help="Serve the bundle tarball (.tar.gz, as `admit build` makes) at this URL instead "
        "of BUNDLE, polling it with If-None-Match; a bad download or a broken bundle keeps "
        "the last good one.",
    ),
    click.option(
        "--bundle-name",
        default="",
        metavar="NAME",
        help="The bundle's name in decision logs and provenance  [default: from the URL]",
    ),
    click.option(
        "--bundle-token-file",
        type=FILE,
        default=None,
        envvar="ADMIT_BUNDLE_TOKEN_FILE",
        help="Send the bearer token in this file with each download (re-read each time).",
    ),
    click.option(
        "--bundle-ca",
        type=FILE,
        default=None,
        help="The CA certificate (PEM) of an https --bundle-url.",
    ),
    click.option(
        "--bundle-delay",
        type=(click.FloatRange(0.1), click.FloatRange(0.1)),
        default=(60.0, 120.0),
        show_default=True,
        metavar="MIN MAX",
        help="Seconds between polls, at random in [MIN, MAX] (OPA's polling.min/max_delay).",
    ),
    click.option(
        "--verification-key",
        type=FILE,
        default=None,
        envvar="ADMIT_VERIFICATION_KEY",
        help="Serve only bundles signed with this key (PEM public key, or an HMAC secret): "
        "their .signatures.json, as `admit build --signing-key` writes it, must verify.",
    ),
)


def bundle_server_options(func: F) -> F:
    """`--bundle-url` and its options, handed to the command as `bundle_server`."""

    @functools.wraps(func)
    def packed(*args: Any, **kwargs: Any) -> Any:
        url = kwargs.pop("bundle_url")
        given = BundleServer(
            url or "",
            kwargs.pop("bundle_name"),
            kwargs.pop("bundle_token_file"),
            kwargs.pop("bundle_ca"),
            kwargs.pop("bundle_delay"),
            kwargs.pop("verification_key"),
        )
        if url is None and given.verification_key is not None:
            raise click.UsageError("--verification-key checks bundles from --bundle-url")
        return func(*args, bundle_server=given if url else None, **kwargs)

    for option in reversed(_BUNDLE_OPTIONS):
        packed = option(packed)
    return packed  # type: ignore[return-value]
