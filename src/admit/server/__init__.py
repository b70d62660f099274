"""The HTTPS server: admission webhooks, the OPA-compatible data API, health and metrics.

Adapters only: requests are decoded here, judged by `admit.core.evaluate`, and encoded back.
"""
