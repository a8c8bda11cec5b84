"""Loading, validating and modelling the project file (`prefect.yaml`)."""
