"""A strategy that only watches: every callback is the default no-op, no order is ever asked
for. Useful to measure the path up to the strategy, and the smallest strategy there is."""

from __future__ import annotations

from collections import namedtuple
from typing import Any

import numpy as np

from .api import register
from .context import ContextInfo

ObserveState = namedtuple("ObserveState", ["seen"])
register(ObserveState)


def new(params: dict[str, Any], ctx_info: ContextInfo) -> ObserveState:
    return ObserveState(np.zeros(1, np.int64))
