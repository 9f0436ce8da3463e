"""Shared-memory rings and the low-level intrinsics compiled code needs (prefetch, atomics)."""

from .ring import RingError, RingLayoutError, RingTimeout, SpscRing
from .wait import WAIT_STRATEGIES, WaitStrategy, wait_strategy

__all__ = ["RingError", "RingLayoutError", "RingTimeout", "SpscRing", "WAIT_STRATEGIES",
           "WaitStrategy", "wait_strategy"]
