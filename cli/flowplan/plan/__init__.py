"""Declarative sync: desired state from the project, `compute_plan` (pure), plan files, apply."""
