"""Serving certificates reloaded from disk without a restart or a failed handshake.

Kubernetes Secret mounts swap a `..data` symlink, so the files change together. Every poll
compares the files' content digest; a changed pair is loaded into a fresh context, checked, and
only then handed to new handshakes through the live context's SNI callback (called for every
ClientHello, with or without SNI). A pair that does not load leaves the previous one serving.
"""

from __future__ import annotations

import hashlib
import logging
import ssl
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("admit.tls")


def _digest(*paths: Path) -> str:
    h = hashlib.sha256()
    for path in paths:
        h.update(path.read_bytes())
        h.update(b"\0")
    return h.hexdigest()


class ReloadingContext:
    """The server's SSL context; `poll()` swaps in changed certificate files."""

    def __init__(self, cert: Path, key: Path, build: Callable[[], ssl.SSLContext]) -> None:
        self.cert = cert
        self.key = key
        self._build = build
        self.digest = _digest(cert, key)
        self.context = build()
        self._current = self.context
        self.context.sni_callback = self._select

    def _select(self, sock: ssl.SSLObject, name: str | None, ctx: ssl.SSLContext) -> None:
        if self._current is not ctx:
            sock.context = self._current

    def poll(self) -> bool:
        """Load the files again if their content changed; True when a new pair went live."""
        try:
            digest = _digest(self.cert, self.key)
        except OSError as exc:
            log.warning("cannot read the TLS files (%s); keeping the current certificate", exc)
            return False
        if digest == self.digest:
            return False
        try:
            fresh = self._build()
        except (OSError, ssl.SSLError, ValueError) as exc:
            log.warning("the new TLS files do not load (%s); keeping the current certificate", exc)
            return False
        self.digest = digest
        self._current = fresh
        log.info("loaded a new TLS certificate from %s", self.cert)
        return True
