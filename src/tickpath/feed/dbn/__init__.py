"""Databento DBN files into tickpath's books: MBO into order-by-order books
(:class:`DbnMboFeed`), MBP-1 / MBP-10 into price levels (:class:`DbnLevelBooks`), trades
counted (:class:`DbnTradeCounts`). Records come in batches from
:class:`tickpath.codec.dbn.DbnReader` and go to compiled kernels as arrays."""

from .levels import DbnLevelBooks
from .mbo import DbnBookError, DbnMboFeed
from .trades import DbnTradeCounts

__all__ = ["DbnBookError", "DbnLevelBooks", "DbnMboFeed", "DbnTradeCounts"]
