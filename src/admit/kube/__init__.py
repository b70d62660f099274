"""Kubernetes adapters: API access, certificates, the install's objects, cluster sources."""
