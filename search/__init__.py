"""Optuna search over Meta Mobile Block stage configurations."""
