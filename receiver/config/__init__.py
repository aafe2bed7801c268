"""The config file: its format (`format`), loading it (`load`), and the chart's schema of it (`schema`).

The settings it produces are `receiver.core.settings`.
"""

from receiver.config.load import ConfigError, load_config, parse_config

__all__ = ["ConfigError", "load_config", "parse_config"]
