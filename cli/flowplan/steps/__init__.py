"""Deployment steps: the catalog of built-in steps (and later, their implementations)."""
