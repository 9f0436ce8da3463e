"""Order books: ITCH order-by-order books (``BookStore``) and CME MDP 3.0 books: depth-limited
price-level books (``DepthBooks``) and order-by-order books (``OrderBooks``)."""

from .depth_store import DepthBookError, DepthBooks
from .mbo_store import OrderBookError, OrderBooks
from .store import BookError, BookStore

__all__ = ["BookError", "BookStore", "DepthBookError", "DepthBooks", "OrderBookError",
           "OrderBooks"]
