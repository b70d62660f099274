"""The classic five admission policies (this file holds no rules)."""
