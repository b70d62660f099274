"""PSS Restricted, the controls it adds to Baseline (this file holds no rules)."""
