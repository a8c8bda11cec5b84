"""The domain model: what a backend stores, the schedule values, and the rules for names."""
