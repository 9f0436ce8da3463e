"""Books to JSON lines: one object per instrument with any live order."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ITCH_KEYS = ("locate", "symbol", "bids", "asks")
MDP3_KEYS = ("security_id", "symbol", "bids", "asks")


def write_books_json(books: Iterable[dict[str, Any]], path: str | Path,
                     keys: tuple[str, ...] = ITCH_KEYS) -> int:
    """Write one object per line, ``{"locate", "symbol", "bids": [[price, shares, orders],
    ...], "asks": [...]}`` for ITCH (``keys``: ``MDP3_KEYS`` names the instrument by
    ``security_id``), best price first; returns the number of books written."""
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        for b in books:
            f.write(json.dumps({k: b[k] for k in keys},
                               separators=(",", ":")))
            f.write("\n")
            n += 1
    return n


def diff_books(got: dict[int, dict[str, Any]], want: dict[int, dict[str, Any]],
               limit: int = 5) -> list[str]:
    """Differences between two sets of books keyed by locate, as readable lines (empty when
    they are identical)."""
    out: list[str] = []
    for loc in sorted(set(got) | set(want)):
        g, w = got.get(loc), want.get(loc)
        if g is None or w is None:
            out.append(f"locate {loc}: only in {'expected' if g is None else 'received'} books")
        else:
            for side in ("bids", "asks"):
                if [list(x) for x in g[side]] != [list(x) for x in w[side]]:
                    out.append(f"locate {loc} {w.get('symbol', '')} {side}: "
                               f"got {g[side][:3]}... want {w[side][:3]}...")
        if len(out) >= limit:
            break
    return out
