"""PSS Baseline: a bundle of one rule module per control (this file holds no rules)."""
