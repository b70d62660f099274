"""Pod Security admission driven by namespace labels: a bundle of one policy (no rules here)."""
