"""CME MDP 3.0 over SBE: the feed handler a transport's receive loop calls
(:class:`Mdp3Feed`, seam in :mod:`tickpath.wire.handler`): A/B arbitration, per-instrument
RptSeq, snapshot recovery, price-level and order books."""

from .live import Mdp3Error, Mdp3Feed
from .step import Mdp3State

__all__ = ["Mdp3Error", "Mdp3Feed", "Mdp3State"]
