"""The pure evaluation core: rules, matching, request views, the engine and its decisions.

Nothing here does I/O, runs an event loop, configures logging or imports a server, YAML or
Kubernetes library. The loading layer builds a `PolicySet` from files; adapters call `evaluate`.
"""
