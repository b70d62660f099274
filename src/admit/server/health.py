"""OPA's Health API beside admit's own probes (`/healthz`, `/readyz`), so probes written for
OPA keep working:

    GET /health                      200 {} while the server answers
    GET /health?bundles              500 until a policy version is served ("activated")
    GET /health?plugins              500 unless the bundle and the decision-log uploader are OK
        [&exclude-plugin=NAME...]    (plugins `bundle`, `decision_logs`) leaving some out
    GET /health/<rule>               the decision `system/health/<rule>` on {"plugins_ready",
                                     "plugin_state"}: 200 when true, else 500

Unhealthy answers are `{"error": ...}` with OPA's messages.
"""

from __future__ import annotations

from typing import Any, Protocol
from urllib.parse import parse_qs

import orjson

from admit.core.document import read
from admit.core.engine import EvaluationError, PolicySet

OK, NOT_READY, ERROR = "OK", "NOT_READY", "ERROR"


class Plugins(Protocol):
    """What runs beside the policies and reports a state (OPA's plugin states)."""

    def states(self) -> dict[str, str]:
        """Each plugin's state by name: OK, NOT_READY or ERROR."""


def plugin_states(policy_set: PolicySet | None, plugins: Plugins | None) -> dict[str, str]:
    """The bundle's state (OK once a version is served) and the other plugins'."""
    states = {"bundle": OK if policy_set is not None else NOT_READY}
    if plugins is not None:
        states.update(plugins.states())
    return states


def _unhealthy(message: str) -> tuple[int, bytes, str]:
    return 500, orjson.dumps({"error": message}), "unhealthy"


def health(
    path: str, query: str, policy_set: PolicySet | None, plugins: Plugins | None
) -> tuple[int, bytes, str]:
    """(status, JSON body, result label) of a Health API request."""
    params = parse_qs(query, keep_blank_values=True)
    states = plugin_states(policy_set, plugins)
    if path.startswith("/health/"):
        return _policy(path[len("/health/") :].strip("/"), policy_set, states)
    if _flag(params, "bundles") and states["bundle"] != OK:
        return _unhealthy("not all configured bundles have been activated")
    if _flag(params, "plugins"):
        excluded = set(params.get("exclude-plugin", ()))
        if any(state != OK for name, state in states.items() if name not in excluded):
            return _unhealthy("not all plugins in OK state")
    return 200, b"{}", "ok"


def _policy(
    name: str, policy_set: PolicySet | None, states: dict[str, str]
) -> tuple[int, bytes, str]:
    """A health check written as a decision under `system/health`, as OPA's are."""
    where = f"data.system.health.{name.replace('/', '.')}"
    if policy_set is None or not name:
        return _unhealthy(f"health policy was undefined at {where}")
    ready = all(state == OK for state in states.values())
    input: dict[str, Any] = {"plugins_ready": ready, "plugin_state": states}
    try:
        answer = read(policy_set, ("system", "health", *name.split("/")), input)
    except EvaluationError:
        return _unhealthy("unable to perform evaluation")
    if not answer.defined:
        return _unhealthy(f"health policy was undefined at {where}")
    if answer.value is not True:
        return _unhealthy(f"health policy was not true at {where}")
    return 200, b"{}", "ok"


def _flag(params: dict[str, list[str]], name: str) -> bool:
    values = params.get(name)
    return values is not None and values[-1].lower() in ("", "true")
