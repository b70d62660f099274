"""Where workload kinds keep their pod template, so Pod rules also cover them.

Kinds and paths follow the built-in controllers; a Pod rule applied to one of these sees the
template as a Pod and reports paths under the template's prefix.
"""

from __future__ import annotations

from typing import Any

# (group, kind) -> keys from the object to its pod template
POD_TEMPLATES: dict[tuple[str, str], tuple[str, ...]] = {
    ("apps", "Deployment"): ("spec", "template"),
    ("apps", "ReplicaSet"): ("spec", "template"),
    ("apps", "StatefulSet"): ("spec", "template"),
    ("apps", "DaemonSet"): ("spec", "template"),
    ("batch", "Job"): ("spec", "template"),
    ("batch", "CronJob"): ("spec", "jobTemplate", "spec", "template"),
    ("", "ReplicationController"): ("spec", "template"),
}

TEMPLATE_PREFIX = {key: ".".join(keys) + "." for key, keys in POD_TEMPLATES.items()}


def template_of(obj: Any, keys: tuple[str, ...]) -> Any:
    """The pod template dict inside `obj`, or None."""
    for key in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj if isinstance(obj, dict) else None

