"""Kubernetes adapters: certificates, manifests, cluster sources."""
