"""The built-in steps, with Prefect's names, arguments and outputs (PREFECT-COMPAT 2.3-2.4)."""
