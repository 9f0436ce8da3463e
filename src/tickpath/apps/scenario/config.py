"""The central-bank scenario's settings: defaults, and a TOML file to change them.

Every key, with its default (``tickpath scenario central-bank --config FILE`` reads the keys
it names and keeps the defaults for the rest; an unknown key or a bad value is refused with
its name)::

    [market]
    symbols = 40              # stocks on the ITCH feed
    basket = 20               # the index's constituents (the busiest stocks)
    seed = 7                  # the day, decided by the seed
    futures_share = 0.5       # futures messages per equity message of the day

    [pace]
    rate = 2000               # equity ITCH messages per second while calm
    calm_s = 3.0              # calm before the announcement
    factor = 100.0            # the burst multiplies the rate by this ...
    burst_s = 1.0             # ... for this long
    after_s = 3.0             # calm again

    [announcement]
    move = -0.015             # the basket's stocks move by this fraction

    [strategy]                # both hosts trade the same rule (tickpath.strategy.index_arb)
    threshold_ticks = 3       # basis beyond this many of the future's ticks: trade
    exit_ticks = 1            # back within this many: flatten
    size = 1                  # contracts an order
    max_position = 5          # contracts either way

    [hosts]
    optimized = "auto"        # the optimized host's ITCH transport: auto (the best this host
                              # runs of packet, busypoll), packet, busypoll or xdp
    together = "auto"         # both hosts against one run of the venue (auto: when the host
                              # has 3 cores or more), else one run each, the same day
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Market:
    symbols: int = 40
    basket: int = 20
    seed: int = 7
    futures_share: float = 0.5


@dataclass(frozen=True)
class Pace:
    rate: float = 2000.0
    calm_s: float = 3.0
    factor: float = 100.0
    burst_s: float = 1.0
    after_s: float = 3.0

    def messages(self) -> int:
        """Equity messages the run publishes at most (its three phases at their rates)."""
        return int(self.rate * (self.calm_s + self.after_s + self.factor * self.burst_s))


@dataclass(frozen=True)
class AnnouncementConf:
    move: float = -0.015


@dataclass(frozen=True)
class StrategyConf:
    threshold_ticks: int = 3
    exit_ticks: int = 1
    size: int = 1
    max_position: int = 5


@dataclass(frozen=True)
class Hosts:
    optimized: str = "auto"
    together: str = "auto"


@dataclass(frozen=True)
class ScenarioConfig:
    market: Market = field(default_factory=Market)
    pace: Pace = field(default_factory=Pace)
    announcement: AnnouncementConf = field(default_factory=AnnouncementConf)
    strategy: StrategyConf = field(default_factory=StrategyConf)
    hosts: Hosts = field(default_factory=Hosts)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


_SECTIONS = {f.name: f.default_factory for f in fields(ScenarioConfig)}  # type: ignore[misc]


def _check(cfg: ScenarioConfig) -> ScenarioConfig:
    m, p, s, h = cfg.market, cfg.pace, cfg.strategy, cfg.hosts
    if not 1 <= m.basket <= m.symbols:
        raise ValueError(f"market.basket = {m.basket}: 1 .. market.symbols ({m.symbols})")
    if not 0 < m.futures_share <= 4:
        raise ValueError(f"market.futures_share = {m.futures_share}: must be in (0, 4]")
    for k in ("rate", "factor", "calm_s", "burst_s", "after_s"):
        v = getattr(p, k)
        if not v > 0:
            raise ValueError(f"pace.{k} = {v}: must be > 0")
    if not -0.5 < cfg.announcement.move < 0.5:
        raise ValueError(f"announcement.move = {cfg.announcement.move}: a fraction in "
                         f"(-0.5, 0.5)")
    if s.size <= 0 or s.max_position < 0 or s.threshold_ticks <= 0:
        raise ValueError("strategy: size and threshold_ticks must be > 0, max_position >= 0")
    if not 0 <= s.exit_ticks < s.threshold_ticks:
        raise ValueError(f"strategy.exit_ticks = {s.exit_ticks}: 0 .. threshold_ticks - 1")
    if h.optimized not in ("auto", "packet", "busypoll", "xdp"):
        raise ValueError(f"hosts.optimized = {h.optimized!r}: auto, packet, busypoll or xdp")
    if h.together not in ("auto", "yes", "no"):
        raise ValueError(f"hosts.together = {h.together!r}: auto, yes or no")
    return cfg


def from_dict(data: dict[str, Any]) -> ScenarioConfig:
    """A configuration from ``{section: {key: value}}``; unknown sections or keys and values
    of the wrong type are refused, naming them."""
    parts = {}
    for name, value in data.items():
        if name not in _SECTIONS:
            raise ValueError(f"unknown section [{name}]; known: {', '.join(_SECTIONS)}")
        default = _SECTIONS[name]()
        known = {f.name: f for f in fields(default)}
        if not isinstance(value, dict):
            raise ValueError(f"[{name}] must be a table of keys")
        for k, v in value.items():
            if k not in known:
                raise ValueError(f"unknown key {name}.{k}; known: {', '.join(known)}")
            want = type(getattr(default, k))
            ok = isinstance(v, want) or (want is float and isinstance(v, int))
            if not ok or isinstance(v, bool):
                raise ValueError(f"{name}.{k} = {v!r}: expected {want.__name__}")
        parts[name] = type(default)(**{k: (float(v) if isinstance(getattr(default, k), float)
                                           else v) for k, v in value.items()})
    return _check(ScenarioConfig(**parts))


def load(path: str | Path | None) -> ScenarioConfig:
    """The defaults, changed by the TOML file at ``path`` (None: the defaults)."""
    if path is None:
        return _check(ScenarioConfig())
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text())
    except FileNotFoundError:
        raise ValueError(f"{p}: no such file") from None
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"{p}: not valid TOML: {e}") from None
    try:
        return from_dict(data)
    except ValueError as e:
        raise ValueError(f"{p}: {e}") from None
