"""Best practices after the Kyverno community policies (this file holds no rules)."""
