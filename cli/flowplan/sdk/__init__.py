"""The public Python API; `flowplan` re-exports it (see flowplan/__init__.py)."""
