"""Flow discovery by AST: find flows and their parameters without importing user code."""
