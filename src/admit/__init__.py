"""admit: a featherweight policy engine whose rules are plain Python.

    import admit

    @admit.validate("Pod", operations=["CREATE", "UPDATE"])
    def trusted_registry(request, *, repo_prefix="192.168.64.1"):
        for container in request.containers:
            if not container.image.startswith(repo_prefix):
                yield f"{container.image} repo not start with {repo_prefix}"

Importing admit loads only the standard library and the patch library; servers, YAML and the
command line live in modules imported on demand.
"""

from admit.core.cluster import Cluster
from admit.core.decision import Decision
from admit.core.document import query
from admit.core.engine import EvaluationError, PolicySet, evaluate
from admit.core.errors import AdmitError, BundleError, DefinitionError, InputError, Problem
from admit.core.match import LabelSelector, Match
from admit.core.outcome import RuleResult, Violation, warn
from admit.core.patch import MutableObject
from admit.core.review import Container, Request, UserInfo
from admit.core.rules import Rule, decision, mutate, validate
from admit.core.views import MISSING, View

__version__ = "0.1.0"

__all__ = [
    "MISSING",
    "AdmitError",
    "BundleError",
    "Cluster",
    "Container",
    "Decision",
    "DefinitionError",
    "EvaluationError",
    "InputError",
    "LabelSelector",
    "Match",
    "MutableObject",
    "PolicySet",
    "Problem",
    "Request",
    "Rule",
    "RuleResult",
    "UserInfo",
    "View",
    "Violation",
    "__version__",
    "decision",
    "evaluate",
    "mutate",
    "query",
    "validate",
    "warn",
]
