"""Semantic checks beyond the schema. Each module yields `Finding`s for a `Project`."""
