"""Pod Security Standards: the Baseline and Restricted profiles, one rule per control."""
