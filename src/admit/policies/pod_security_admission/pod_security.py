"""Pod Security admission as Kubernetes runs it, driven by namespace labels.

`pod-security.kubernetes.io/<mode>: <level>` and `pod-security.kubernetes.io/<mode>-version:
<version>` on a namespace choose, per mode, the level (privileged, baseline, restricted) and the
policy version (`latest` or `v1.N`) its pods are held to. Each mode is a rule with the admit
action of the same meaning:

- enforce: a pod that violates the level is denied, `violates PodSecurity "restricted:v1.36":
  ...`; workloads (Deployments, Jobs...) are not denied, as PSA does not deny them;
- warn: the pod or workload is admitted with a warning, `would violate PodSecurity ...`;
- audit: it is admitted and the violation recorded (audit annotation, decision log).

As PSA: updates that change no image or container are not judged, nor pod subresources other
than ephemeral containers; a namespace without labels gets the `defaults` (privileged unless set),
and `exemptions` (usernames, namespaces, runtimeClasses; globs allowed) skip judging altogether.
Beyond PSA, `exclude` exempts single controls per image and value, as Kyverno's
`podSecurity.exclude`. Labels come from the cluster cache (the webhook watches Namespaces) or,
offline, from the Namespace manifests checked alongside; a namespace not known there is judged
by the `defaults`, as one without labels (set them to the floor every namespace must meet).
"""

from collections.abc import Iterator

import admit
from admit.policies import _pss
from admit.policies._pss.admission import (
    DEFAULTS,
    NO_EXEMPTIONS,
    Defaults,
    Exemptions,
    judge,
)
from admit.policies._pss.namespace import problems

NAMESPACES = ["v1/Namespace"]


@admit.validate("Pod", reads=NAMESPACES)
def enforce(
    request: admit.Request,
    *,
    defaults: Defaults = DEFAULTS,
    exemptions: Exemptions = NO_EXEMPTIONS,
    exclude: _pss.Exclusions = (),
) -> Iterator[admit.Violation]:
    """Pods must meet the level their namespace enforces."""
    if request.prefix:  # a workload's pod template: PSA warns and audits, never denies
        return iter(())
    return judge(request, "enforce", defaults, exemptions, exclude)


@admit.validate("Pod", reads=NAMESPACES, action="warn")
def warn(
    request: admit.Request,
    *,
    defaults: Defaults = DEFAULTS,
    exemptions: Exemptions = NO_EXEMPTIONS,
    exclude: _pss.Exclusions = (),
) -> Iterator[admit.Violation]:
    """Pods and workloads that break the level their namespace warns about are admitted with a
    warning."""
    return judge(request, "warn", defaults, exemptions, exclude)


@admit.validate("Pod", reads=NAMESPACES, action="audit")
def audit(
    request: admit.Request,
    *,
    defaults: Defaults = DEFAULTS,
    exemptions: Exemptions = NO_EXEMPTIONS,
    exclude: _pss.Exclusions = (),
) -> Iterator[admit.Violation]:
    """Pods and workloads that break the level their namespace audits are recorded."""
    return judge(request, "audit", defaults, exemptions, exclude)


@admit.validate("v1/Namespace")
def namespace_labels(request: admit.Request) -> Iterator[admit.Violation]:
    """Namespaces carry only pod-security labels Pod Security admission can read."""
    old = problems(request.old_labels or {})
    for key, value, problem in problems(request.labels):
        if (key, value, problem) not in old:
            yield admit.Violation(
                f'metadata.labels[{key}]: Invalid value: "{value}": {problem}',
                f"metadata.labels['{key}']",
            )
