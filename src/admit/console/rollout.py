"""What the console shows of a rollout: the served revision, the bundle's policy exceptions and
the latest audit reports, each only when it exists.

The data shapes it reads (and shows as they are, so they stay the producers' to extend):
- the revision: the policy source's `status()["served"]`: {"digest", "source", "rules",
  "published" (seconds since the epoch), "restored", "revision" (the bundle's `.manifest`
  revision, "" without one)};
- exceptions: `PolicySet.exceptions`, each described by its `as_json()`: {"name", "owner",
  "reason", "expires" (as written), "expired", "rules", "source"} ("expiring" is added when the
  exception can say so);
- audit reports: the run directory's report named `audit` (`RunDirectory.read_report`), which
  the audit process (`serve --audit-interval`, admit.kube.auditor) rewrites as it goes: its
  "time" and "reports", each an OpenReports (or wgpolicyk8s) document as written to the cluster,
  shown as {"namespace", "summary": {"pass", "fail", "warn", "error", "skip"}, "results":
  [{"policy", "rule", "result", "message", "resource": {"kind", "namespace", "name"}}]}. Only the
  first `MAX_RESULTS` results of each are passed on.
"""

from __future__ import annotations

from typing import Any

from admit.core.engine import PolicySet
from admit.server.policies import PolicySource

MAX_RESULTS = 200  # per report, to the page


def exceptions(policy_set: PolicySet | None) -> list[dict[str, Any]]:
    """The set's policy exceptions as the console lists them (none before there are any)."""
    found = []
    for exception in getattr(policy_set, "exceptions", None) or ():
        described = dict(exception.as_json())
        expiring = getattr(exception, "expiring", None)
        if callable(expiring):
            described["expiring"] = bool(expiring())
        found.append(described)
    return found


def reports(policies: PolicySource) -> dict[str, Any] | None:
    """The latest audit reports of the run directory, if an audit wrote any."""
    run = getattr(policies, "run", None)
    read = getattr(run, "read_report", None)
    found = read("audit") if callable(read) else None
    if not isinstance(found, dict) or not isinstance(found.get("reports"), list):
        return None
    shown = []
    for report in found["reports"]:
        if isinstance(report, dict):
            listed = report.get("results")
            results: list[Any] = listed if isinstance(listed, list) else []
            shown.append(
                {
                    "namespace": (report.get("metadata") or {}).get("namespace", ""),
                    "summary": report.get("summary") or {},
                    "results": [_shown(r) for r in results[:MAX_RESULTS] if isinstance(r, dict)],
                    "total": len(results),
                }
            )
    return {"time": found.get("time"), "reports": shown}


def _shown(result: dict[str, Any]) -> dict[str, Any]:
    """A report's result as the page lists it: its first resource named plainly."""
    resources = result.get("resources") or [{}]
    first = resources[0] if isinstance(resources[0], dict) else {}
    return {
        "policy": result.get("policy"),
        "rule": result.get("rule"),
        "result": result.get("result"),
        "message": result.get("message", ""),
        "resource": {k: first.get(k, "") for k in ("kind", "namespace", "name")},
    }


def describe(policy_set: PolicySet | None, policies: PolicySource) -> dict[str, Any]:
    return {
        "revision": policies.status().get("served"),
        "exceptions": exceptions(policy_set),
        "reports": reports(policies),
    }
