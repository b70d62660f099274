"""What an edit changed: the decisions of the served set and of an edited copy on the same
requests, compared per request (the verdict, each rule's outcome and messages, the patch).
The policy editor shows this beside the edited decisions."""

from __future__ import annotations

from typing import Any


def _rules(entry: dict[str, Any]) -> dict[str, tuple[str, list[str]]]:
    """Per rule key: (outcome, messages and error)."""
    found = {}
    for r in entry.get("results") or ():
        key = f"{r['policy']}/{r['rule']}" if r.get("policy") else str(r["rule"])
        messages = [str(v[0]) for v in r.get("violations") or ()]
        if r.get("error"):
            messages.append(str(r["error"]))
        found[key] = (str(r.get("result")), messages)
    return found


def changes(served: list[dict[str, Any]], edited: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per request: `allowed` as [served, edited], the `rules` whose outcome or
    messages differ (a rule only one side has counts as `absent` on the other), whether the
    patch differs, and `same` when nothing does."""
    compared = []
    for before, after in zip(served, edited, strict=False):
        old, new = _rules(before), _rules(after)
        rules = []
        for key in [*old, *(k for k in new if k not in old)]:
            was, now = old.get(key, ("absent", [])), new.get(key, ("absent", []))
            if was != now:
                rules.append(
                    {
                        "rule": key,
                        "served": was[0],
                        "edited": now[0],
                        "removed": [m for m in was[1] if m not in now[1]],
                        "added": [m for m in now[1] if m not in was[1]],
                    }
                )
        patch = (before.get("patch") or []) != (after.get("patch") or [])
        verdict = [bool(before.get("allowed")), bool(after.get("allowed"))]
        compared.append(
            {
                "allowed": verdict,
                "rules": rules,
                "patch": patch,
                "same": not rules and not patch and verdict[0] == verdict[1],
            }
        )
    return compared
