"""The equities Book Snapshot feed over MoldUDP64 (docs/snapshot-feed.md): the compiled
handler a transport's receive loop calls (:class:`SnapshotFeed`, seam in
:mod:`tickpath.wire.handler`) and the plain-Python one (:class:`PySnapshotFeed`)."""

from .layout import MAX_LOCATES
from .live import SnapshotFeed
from .plain import PySnapshotFeed
from .step import SnapshotState

__all__ = ["MAX_LOCATES", "PySnapshotFeed", "SnapshotFeed", "SnapshotState"]
