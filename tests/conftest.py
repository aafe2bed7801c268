# The real control plane, Alertmanager and Prometheus fixtures live in the harness package.
pytest_plugins = ["harness.pytest_plugin"]
