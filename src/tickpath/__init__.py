"""tickpath: a low-latency market-data and trading path for Python."""

__version__ = "0.1.0"
