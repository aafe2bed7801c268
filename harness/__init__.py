"""Test harness: a real local Kubernetes control plane, Debian's Alertmanager and Prometheus, and the
pytest fixtures that start them (see docs/harness.md). Not part of the shipped package."""
