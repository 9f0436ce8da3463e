"""CME MDP 3.0 full snapshots: the handler that keeps books from SnapshotFullRefresh52 alone
(:class:`FullRefreshFeed`, seam in :mod:`tickpath.wire.handler`), the receiving end of the
futures venue's full-snapshot channel (docs/mdp3-snapshots.md)."""

from .live import FullRefreshFeed
from .step import FullRefreshState

__all__ = ["FullRefreshFeed", "FullRefreshState"]
