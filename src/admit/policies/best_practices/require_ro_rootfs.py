"""Require a read-only root filesystem: a writable image filesystem lets an intruder persist
tools and change binaries; state belongs in volumes."""

from collections.abc import Iterator

import admit


@admit.validate("Pod")
def validate_readonly_rootfilesystem(request: admit.Request) -> Iterator[admit.Violation]:
    """Root filesystem must be read-only."""
    for c in request.containers:
        if c.section == "ephemeralContainers":  # debugging sessions, not workloads
            continue
        if c.securityContext.readOnlyRootFilesystem is not True:
            yield admit.Violation(
                f'container "{c.name}" must set securityContext.readOnlyRootFilesystem=true',
                f"{c.path}.securityContext.readOnlyRootFilesystem",
            )
