"""Who may use the console: anyone on this machine when it listens on loopback, and beyond it
only with a credential (`admit serve` refuses a console on another address without one).

- **A token** (`--console-token-file`): scripts send `Authorization: Bearer TOKEN`; people type
  it once into the login page and then carry a session cookie (HttpOnly, SameSite=Strict) that
  is an HMAC of the token, so the token itself is never stored in the browser, and changing the
  file's token ends every session. The file is re-read when it changes (a rotated Kubernetes
  Secret); a file that goes missing or too short refuses everyone until it is fixed.
- **TLS client certificates** (`--console-client-ca`): the console speaks HTTPS with the
  server's certificate and the TLS handshake itself refuses a client without a certificate the
  CA signed; nothing reaches the console's code before that.
- `--console-tls` alone serves HTTPS, so a token never crosses a network in clear.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from pathlib import Path

from admit.core.errors import InputError

log = logging.getLogger("admit.console")
MIN_TOKEN = 16  # characters: `head -c 24 /dev/urandom | base64` gives 32
COOKIE = "admit_console"
_SESSION = b"admit console session v1"


class AccessError(InputError):
    """A console option that cannot work as given (a usage error at start)."""


def is_loopback(host: str) -> bool:
    """Whether `host` is reachable only from this machine."""
    if host.strip().lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def read_token(path: Path) -> bytes:
    """The token in `path` (surrounding whitespace removed); AccessError when it is unusable."""
    try:
        token = path.read_bytes().strip()
    except OSError as exc:
        raise AccessError(f"cannot read the console token file {path}: {exc.strerror}") from None
    if len(token) < MIN_TOKEN:
        raise AccessError(
            f"the console token in {path} is {len(token)} characters; use at least {MIN_TOKEN} "
            "random ones, e.g. `head -c 24 /dev/urandom | base64 > FILE`"
        )
    return token


@dataclass(frozen=True, slots=True)
class ConsoleAccess:
    """The console's access options, as `admit serve` was given them."""

    token_file: Path | None = None
    client_ca: Path | None = None
    tls: bool = False

    @property
    def https(self) -> bool:
        return self.tls or self.client_ca is not None

    def problems(self, host: str) -> list[str]:
        """Why the console cannot start on `host` with these options (none: it can)."""
        if self.token_file is None and self.client_ca is None and not is_loopback(host):
            return [
                f"a console on {host} would answer anyone who can reach it: give "
                "--console-token-file FILE (a token, asked by a login page) or "
                "--console-client-ca FILE (HTTPS with client certificates), or keep it on "
                "127.0.0.1 and reach it with `kubectl port-forward` or an SSH tunnel"
            ]
        found = []
        if self.token_file is not None:
            try:
                read_token(self.token_file)
            except AccessError as exc:
                found.append(str(exc))
        if self.client_ca is not None and not self.client_ca.is_file():
            found.append(f"the console's client CA {self.client_ca} is not a file")
        return found


class TokenGate:
    """Checks a request's bearer token or session cookie against the token file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int, int] | None = None
        self._token: bytes | None = None
        self._session = ""

    def _current(self) -> bytes | None:
        try:
            stat = os.stat(self.path)
        except OSError:
            stamp = None
        else:
            stamp = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        if stamp != self._stamp or stamp is None:
            self._stamp = stamp
            try:
                self._token = read_token(self.path)
            except AccessError as exc:
                if self._token is not None or stamp is not None:
                    log.error("console: %s; refusing every request until it is fixed", exc)
                self._token = None
            self._session = (
                hmac.new(self._token, _SESSION, hashlib.sha256).hexdigest() if self._token else ""
            )
        return self._token

    def session(self) -> str:
        """The cookie value a login with the current token earns ("" without a token)."""
        self._current()
        return self._session

    def matches(self, given: str) -> bool:
        """Whether `given` is the current token (in constant time)."""
        token = self._current()
        return token is not None and hmac.compare_digest(given.strip().encode(), token)

    def allows(self, headers: Iterable[tuple[bytes, bytes]]) -> bool:
        """Whether a request with these headers carries the token or a current session."""
        token = self._current()
        if token is None:
            return False
        for name, value in headers:
            if name == b"authorization":
                scheme, _, given = value.partition(b" ")
                if scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), token):
                    return True
            elif name == b"cookie":
                try:
                    cookie = SimpleCookie(value.decode("latin-1"))
                except CookieError:
                    continue
                if COOKIE in cookie and hmac.compare_digest(
                    cookie[COOKIE].value.encode(), self._session.encode()
                ):
                    return True
        return False
