"""The sections of `admit serve`'s settings for what OPA users configure: decision logs (what each
event holds, and shipping them to a service, OPA's `decision_logs`) and bundles from a bundle
server (OPA's `bundles` and `services`). Each builds the settings its layer takes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from admit import __version__
from admit.cli.flags import flag
from admit.cli.options import FILE

if TYPE_CHECKING:
    from admit.loading.bundle_server import BundleServerSettings
    from admit.server.decision_log import DecisionLogSettings
    from admit.server.decision_upload import UploadSettings

MiB = 1024 * 1024


def _label(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> tuple[tuple[str, str], ...]:
    labels = []
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{value!r} is not KEY=VALUE")
        labels.append((key, text))
    return tuple(labels)


@dataclass(frozen=True, slots=True)
class DecisionLog:
    """Where each decision's event goes and what it holds (OPA's decision logs)."""

    target: str = flag(
        "--decision-log",
        default="-",
        help="File for the decision log: one JSON line per decision, admission and data API, "
        "as OPA's decision-log events; - for stdout, off for none.",
    )
    include_input: bool = flag(
        "--decision-log-input/--no-decision-log-input",
        "--decision-log-requests",
        default=False,
        help="Log each decision's input (an admission's AdmissionReview, Secret data and the "
        "last-applied annotation redacted), as OPA does, so `admit replay` and `admit capture` "
        "can judge the traffic again. Off by default: it costs 50-110k instructions a request "
        "(bench/README.md).",
    )
    masks: tuple[str, ...] = flag(
        "--decision-log-mask",
        multiple=True,
        default=(),
        metavar="POINTER",
        help="Erase this JSON pointer (under /input or /result) from every decision-log event, "
        "as OPA's system.log.mask (a bundle may define that decision too). Repeatable.",
    )
    max_event: int = flag(
        "--decision-log-max-event",
        type=click.IntRange(1024),
        default=MiB,
        metavar="BYTES",
        help="Largest decision-log event: a larger one loses its input, then its result "
        "(listed in `erased`), else it is dropped and counted.",
    )
    labels: tuple[tuple[str, str], ...] = flag(
        "--label",
        multiple=True,
        callback=_label,
        default=(),
        metavar="KEY=VALUE",
        help="A label of this server in every decision-log event, beside id and version "
        "(OPA's labels). Repeatable.",
    )
    url: str | None = flag(
        "--decision-log-url",
        default=None,
        metavar="URL",
        help="Also POST decision-log events to this service, in gzip batches, as OPA's decision "
        "log plugin does (the URL includes the path, e.g. https://logs.example/logs).",
    )
    token_file: Path | None = flag(
        "--decision-log-token-file",
        type=FILE,
        default=None,
        help="Send the bearer token in this file with each upload (re-read each time).",
    )
    ca: Path | None = flag(
        "--decision-log-ca",
        type=FILE,
        default=None,
        help="The CA certificate (PEM) of an https --decision-log-url.",
    )
    delay: tuple[float, float] = flag(
        "--decision-log-delay",
        type=(click.FloatRange(0.1), click.FloatRange(0.1)),
        default=(5.0, 10.0),
        metavar="MIN MAX",
        help="Seconds between uploads, at random in [MIN, MAX] (OPA's min/max_delay_seconds); "
        "a full batch goes at once.",
    )
    buffer: int = flag(
        "--decision-log-buffer",
        type=click.IntRange(64 * 1024),
        default=32 * MiB,
        metavar="BYTES",
        help="Events each worker keeps while the service is slow or down; past it the oldest "
        "are dropped and counted (admit_decision_log_events_total{outcome=\"dropped\"}).",
    )
    upload_limit: int = flag(
        "--decision-log-upload-limit",
        type=click.IntRange(1024),
        default=32 * 1024,
        metavar="BYTES",
        help="Largest upload body, compressed (OPA's upload_size_limit_bytes).",
    )

    @property
    def path(self) -> str | None:
        """Where events are written: a file, "-" for stdout, None for nowhere."""
        return None if self.target == "off" else self.target

    def events(self) -> DecisionLogSettings:
        """What each event holds; this server's `id` is new at each start, as OPA's is."""
        from admit.server.decision_log import DecisionLogSettings

        labels = {"id": str(uuid.uuid4()), "version": __version__, **dict(self.labels)}
        try:
            return DecisionLogSettings(
                labels=labels,
                include_input=self.include_input,
                mask=self.masks,
                max_event_bytes=self.max_event,
            )
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None

    def upload(self) -> UploadSettings | None:
        """How events are shipped to --decision-log-url (None: they are not)."""
        from admit.server.decision_upload import UploadSettings

        if self.url is None:
            return None
        try:
            return UploadSettings(
                self.url, token_file=self.token_file, ca_file=self.ca, min_delay=self.delay[0],
                max_delay=self.delay[1], buffer_bytes=self.buffer, upload_bytes=self.upload_limit,
            )  # fmt: skip
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None


@dataclass(frozen=True, slots=True)
class BundleServer:
    """`--bundle-url`: a bundle tarball on a bundle server, and how to poll it."""

    url: str | None = flag(
        "--bundle-url",
        default=None,
        metavar="URL",
        help="Serve the bundle tarball (.tar.gz, as `admit build` makes) at this URL instead "
        "of BUNDLE, polling it with If-None-Match; a bad download or a broken bundle keeps "
        "the last good one.",
    )
    name: str = flag(
        "--bundle-name",
        default="",
        metavar="NAME",
        show_default=False,
        help="The bundle's name in decision logs and provenance  [default: from the URL]",
    )
    token_file: Path | None = flag(
        "--bundle-token-file",
        type=FILE,
        default=None,
        help="Send the bearer token in this file with each download (re-read each time).",
    )
    ca: Path | None = flag(
        "--bundle-ca",
        type=FILE,
        default=None,
        help="The CA certificate (PEM) of an https --bundle-url.",
    )
    delay: tuple[float, float] = flag(
        "--bundle-delay",
        type=(click.FloatRange(0.1), click.FloatRange(0.1)),
        default=(60.0, 120.0),
        metavar="MIN MAX",
        help="Seconds between polls, at random in [MIN, MAX] (OPA's polling.min/max_delay).",
    )
    verification_key: Path | None = flag(
        "--verification-key",
        type=FILE,
        default=None,
        help="Serve only bundles signed with this key (PEM public key, or an HMAC secret): "
        "their .signatures.json, as `admit build --signing-key` writes it, must verify.",
    )

    def source_settings(self) -> BundleServerSettings:
        """The loader's settings for this server; a bad URL or delay is a usage error."""
        from admit.loading.bundle_server import BundleServerSettings
        from admit.loading.signing import Verifier

        assert self.url is not None
        verifier = Verifier(self.verification_key) if self.verification_key else None
        try:
            return BundleServerSettings(
                self.url, name=self.name, token_file=self.token_file, ca_file=self.ca,
                min_delay=self.delay[0], max_delay=self.delay[1], verifier=verifier,
            )  # fmt: skip
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
