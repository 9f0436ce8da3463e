"""Order books: order-by-order (L3) books for every instrument, price levels, the directory."""

from .store import BookError, BookStore

__all__ = ["BookError", "BookStore"]
