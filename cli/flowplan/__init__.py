"""flowplan: declarative, GitOps-style deployments for Python workflows, driven by prefect.yaml."""

__version__ = "0.1.0"
