"""tickpath: a low-latency market-data and trading path for Python.

The friendly entry points; everything else lives in its room (``codec``, ``feed``, ``book``,
``venue``, ``wire``, ``engine``, ``telemetry``).
"""

from .book import BookError, BookStore
from .engine.handler import ItchError, ItchHandler
from .engine.replay import ReplayReport, replay
from .venue import Simulator

__version__ = "0.1.0"

__all__ = [
    "BookError", "BookStore", "ItchError", "ItchHandler", "ReplayReport", "Simulator",
    "replay", "__version__",
]
