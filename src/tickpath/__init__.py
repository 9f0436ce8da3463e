"""tickpath: a low-latency market-data and trading path for Python.

The friendly entry points; everything else lives in its room (``codec``, ``feed``, ``book``,
``venue``, ``wire``, ``engine``, ``apps``, ``telemetry``).
"""

from .apps.replay import ReplayReport, replay
from .book import BookError, BookStore
from .feed.itch import ItchError, ItchHandler
from .venue import Simulator

__version__ = "0.1.0"

__all__ = [
    "BookError", "BookStore", "ItchError", "ItchHandler", "ReplayReport", "Simulator",
    "replay", "__version__",
]
