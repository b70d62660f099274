"""The one exception tree of admit; each error knows its stable code, exit code and HTTP status.

    AdmitError
     ├── DefinitionError     a rule is declared wrongly (bad match, action, parameter)
     │    └── UnknownKind        a kind the API does not have (core.kinds)
     ├── BundleError         a bundle failed to load; carries every Problem found in one pass
     ├── InputError          a manifest, review or input document cannot be used
     │    ├── InvalidRequest     an AdmissionRequest field of the wrong type (core.shape; 400)
     │    ├── CaptureError       a decision that cannot become a test case (loading.capture)
     │    ├── PlaygroundError, TrialError, AccessError   the console's inputs and options
     ├── ServeError          the server cannot start (port taken, TLS files unusable)
     ├── EvaluationError     a decision rule raised (core.engine; the data API answers 500)
     ├── RuleQuarantined     raised in place of a rule that ended its worker (loading.store)
     ├── HTTPError           a request the webhook refuses, with its status (server.errors)
     ├── ConsoleError        the same, for the console (console.app)
     ├── ClusterAccessError  the cluster cannot be reached (kube.api)
     └── DiscoveryError      a cluster's discovery cannot be read (kube.discovery)

    RuleTimeout (a BaseException, so a rule's `except Exception` cannot swallow it)

A denial is never an exception: it is a `Decision`. Only the CLI's `main` and the servers'
error handlers (one each: the webhook app's and the console's, both by `http_status` and
`code`) turn these into exit codes or HTTP answers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong, located: printed as `path:line: code: message`."""

    path: str
    line: int | None
    code: str
    message: str

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.code}: {self.message}"


class AdmitError(Exception):
    """Root of admit's errors."""

    code = "admit_error"
    exit_code = 1
    http_status = 500


class DefinitionError(AdmitError, ValueError):
    """A decorator or `Match` was given something it cannot use."""

    code = "definition_error"
    exit_code = 3
    http_status = 500


class BundleError(AdmitError):
    """A bundle could not be loaded; `problems` lists everything found, in file order."""

    code = "bundle_error"
    exit_code = 3
    http_status = 500

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class InputError(AdmitError):
    """An input document (manifest, AdmissionReview, decision input) is unusable."""

    code = "input_error"
    exit_code = 2
    http_status = 400

    def __init__(self, message: str, *, path: str = "", line: int | None = None) -> None:
        self.path = path
        self.line = line
        where = "" if not path else (f"{path}:{line}: " if line is not None else f"{path}: ")
        super().__init__(f"{where}{message}")


class ServeError(AdmitError):
    """`admit serve` cannot start: its port is taken or its TLS files cannot be used."""

    code = "serve_error"
    exit_code = 4
    http_status = 500


class RuleTimeout(BaseException):
    """Raised into a rule that overran its time by the server's deadline; the engine records it
    as that rule's error, so its `on_error` decides the request."""
