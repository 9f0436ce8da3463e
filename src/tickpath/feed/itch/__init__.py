"""The ITCH 5.0 feed over MoldUDP64: the handler for files (:class:`ItchHandler`) and the
handler a transport's receive loop calls (:class:`ItchFeed`, seam in
:mod:`tickpath.wire.handler`)."""

from .handler import ItchError, ItchHandler, LostRange
from .live import NO_TAP, ItchFeed
from .step import ItchState

__all__ = ["NO_TAP", "ItchError", "ItchFeed", "ItchHandler", "ItchState", "LostRange"]
