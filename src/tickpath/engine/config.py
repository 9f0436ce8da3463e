"""A pipeline's configuration: a TOML file, checked key by key.

Every section and key is declared in :data:`SCHEMA` (type, default, and a check); a key that
is unknown, of the wrong type or out of range is refused with its full name (``ring.capacity``)
and what is wrong. The reference of every key is docs/engine.md; ``examples/pipeline.toml``
runs end to end on one machine.
"""

from __future__ import annotations

import ipaddress
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..ring.wait import (
    DEFAULT_MAX_PARK_NS,
    DEFAULT_MIN_PARK_NS,
    DEFAULT_SPINS,
    DEFAULT_YIELDS,
    WAIT_STRATEGIES,
)
from ..risk.layout import MAX_STORM_REJECTS


class ConfigError(ValueError):
    """A pipeline configuration that cannot run; the message names the key."""


def _pow2(v: int) -> str | None:
    return None if v >= 2 and v & (v - 1) == 0 else "must be a power of two >= 2"


def _positive(v: float) -> str | None:
    return None if v > 0 else "must be > 0"


def _fault_plan(v: str) -> str | None:
    from ..venue.faults import FaultPlan

    try:
        FaultPlan.parse(v)
    except ValueError as e:
        return str(e)
    return None


def _hostport_or_empty(v: str) -> str | None:
    if not v:
        return None
    from ..feed.moldudp64.recovery import parse_hostport

    try:
        parse_hostport(v)
    except ValueError as e:
        return str(e)
    return None


def _nonneg(v: float) -> str | None:
    return None if v >= 0 else "must be >= 0"


def _one_of(*choices: str) -> Callable[[str], str | None]:
    def check(v: str) -> str | None:
        return None if v in choices else f"must be one of {', '.join(choices)}"
    return check


_XDP_OPTIONS = ("copy", "zc", "native", "generic")


def transport_problem(v: str) -> str | None:
    """Why ``v`` is not a receive transport a pipeline runs (None: it is). Accepts what
    :func:`tickpath.wire.transports.open_receiver` accepts, checked without opening anything:
    ``auto``, ``socket``, ``recv`` (the kernel socket from a compiled loop), ``busypoll``,
    ``packet``, ``packet:v2``, ``packet:v3``, ``xdp`` and
    ``xdp:OPT,...`` (``copy`` | ``zc``, ``native`` | ``generic``, ``queue=N``). ``pcap:PATH``
    is refused: see the message."""
    kind, _, opts = v.partition(":")
    if v in ("auto", "socket", "recv", "busypoll"):
        return None
    if kind == "packet":
        return None if opts in ("", "v2", "v3") else \
            f"unknown packet ring {opts!r}: use packet (TPACKET_V2), packet:v2 or packet:v3"
    if kind == "xdp":
        for opt in filter(None, opts.split(",")):
            key, _, val = opt.partition("=")
            if opt not in _XDP_OPTIONS and not (key == "queue" and val.isdigit()):
                return (f"unknown xdp option {opt!r}: use copy or zc, native or generic, "
                        f"queue=N (e.g. xdp:generic,queue=0)")
        return None
    if kind == "pcap":
        return ("a pcap file cannot feed a pipeline: its receive stamps are the capture's "
                "times, not this host's clock, so the stage boundaries would not subtract, "
                "and the file is not paced by a venue the strategy trades against; replay it "
                "with `tickpath listen --transport pcap:PATH` or `tickpath replay`")
    return ("must be auto, socket, recv, busypoll, packet, packet:v2, packet:v3, xdp or "
            "xdp:OPTIONS (tickpath.wire.transports)")


def _core(v: int) -> str | None:
    return None if v >= -1 else "must be a core number (or -1: not pinned)"


def _prio(v: int) -> str | None:
    return None if 0 <= v <= 99 else "must be 0 (off) or a SCHED_FIFO priority 1..99"


def _symbols(v: list) -> str | None:
    if not all(isinstance(s, str) and 1 <= len(s) <= 8 and s.isascii() for s in v):
        return "must be a list of ITCH symbols (1-8 ASCII characters each)"
    return None


def _strategy(v: str) -> str | None:
    # a module path (tickpath.strategy.loader imports it when the stage starts), or an alias
    if v in ("market_maker", "observe") or all(p.isidentifier() for p in v.split(".")):
        return None
    return ("must name a strategy module (e.g. tickpath.strategy.market_maker, "
            "mypkg.mystrat) or be market_maker or observe")


def _ipv4(v: str) -> str | None:
    try:
        ipaddress.IPv4Address(v)
    except ValueError:
        return "must be an IPv4 address (the order-entry session runs over TCP/IPv4)"
    return None


def _port(v: int) -> str | None:
    return None if 0 <= v <= 65535 else ("must be a TCP port 0..65535 (0: a free port the "
                                         "built-in venue listens on)")


def _username(v: str) -> str | None:
    return None if 0 < len(v) <= 6 and v.isascii() else \
        "must be 1-6 ASCII characters (SoupBinTCP's username field)"


def _password(v: str) -> str | None:
    return None if 0 < len(v) <= 10 and v.isascii() else \
        "must be 1-10 ASCII characters (SoupBinTCP's password field)"


def _positive_s(v: float) -> str | None:
    return None if v > 0 else "must be > 0 (seconds)"


def _at_least_1(v: int) -> str | None:
    return None if v >= 1 else "must be >= 1 (nanoseconds)"


def _block_timeout(v: int) -> str | None:
    # a negative timeout would make the feed wait forever on a full ring, and the ring's
    # claim does not look at the stop word: a dead strategy stage would hang the feed
    return None if v >= 0 else ("must be >= 0 microseconds (0: give up at once, after a "
                                "few idle rounds; the record is counted as ring_full)")


def _storm(v: int) -> str | None:
    return None if 1 <= v <= MAX_STORM_REJECTS else \
        f"must be 1..{MAX_STORM_REJECTS} venue rejects (the window's state is preallocated)"


def _kill_file(v: str) -> str | None:
    """A path whose existence throws the kill switch ('' : none). Its directory must exist
    (a file that can never appear protects nothing); it must not be a directory."""
    if not v:
        return None
    p = Path(v)
    if p.is_dir():
        return "is a directory: name a file whose existence throws the kill switch"
    if not p.parent.is_dir():
        return (f"its directory {str(p.parent)!r} does not exist, so the file could never "
                f"be created (relative paths are taken from the working directory)")
    return None


_IDLE = _one_of(*WAIT_STRATEGIES)
#: a stage's placement and idle strategy; spins / yields / park times are the idle
#: strategy's parameters (tickpath.ring.wait), used by the strategies that have those phases
_STAGE = {"core": (int, -1, _core), "idle": (str, "busy_spin", _IDLE),
          "realtime": (int, 0, _prio), "spins": (int, DEFAULT_SPINS, _nonneg),
          "yields": (int, DEFAULT_YIELDS, _nonneg),
          "min_park_ns": (int, DEFAULT_MIN_PARK_NS, _at_least_1),
          "max_park_ns": (int, DEFAULT_MAX_PARK_NS, _at_least_1)}
STAGE_NAMES = ("venue", "feed", "strategy")

#: section -> key -> (type, default, check); a section default of None means optional
SCHEMA: dict[str, dict[str, tuple[type, Any, Callable[[Any], str | None] | None]]] = {
    "pipeline": {"name": (str, "tickpath", None), "duration_s": (float, 0.0, _nonneg),
                 "placement": (str, "auto", _one_of("auto", "manual")),
                 "topology": (str, "pipelined", _one_of("pipelined", "run_to_completion"))},
    "transport": {"kind": (str, "auto", transport_problem)},
    "feed": {"host": (str, "127.0.0.1", None), "port": (int, 0, _nonneg),
             "iface_ip": (str, "0.0.0.0", None), "session": (str, "TICKPATH01", None),
             "max_orders": (int, 1 << 20, _positive),
             "retransmit": (str, "", _hostport_or_empty),
             "glimpse": (str, "", _hostport_or_empty),
             "silence_s": (float, 2.0, _nonneg)},
    "instruments": {"symbols": (list, [], _symbols)},
    "ring": {"capacity": (int, 4096, _pow2), "policy": (str, "drop", _one_of("drop", "block")),
             "block_timeout_us": (int, 1000, _block_timeout)},
    "stages.venue": dict(_STAGE),
    "stages.feed": dict(_STAGE),
    "stages.strategy": dict(_STAGE),
    "strategy": {"name": (str, "market_maker", _strategy),
                 "edge": (int, 100, _nonneg), "size": (int, 100, _positive)},
    "risk": {"max_order_size": (int, 1000, _positive), "max_position": (int, 100_000, _nonneg),
             "max_notional": (float, 10_000_000.0, _nonneg),
             "collar_bps": (int, 500, _nonneg), "max_orders_per_s": (int, 100_000, _nonneg),
             "max_open_notional": (float, 10_000_000.0, _nonneg),
             "max_total_open_notional": (float, 50_000_000.0, _nonneg),
             "max_loss": (float, 1_000_000.0, _nonneg),
             "duplicate_window_us": (int, 1_000, _nonneg),
             "reject_storm": (int, 50, _storm),
             "reject_storm_window_ms": (int, 1_000, _positive),
             "kill_file": (str, "", _kill_file)},
    "simulator": {"enabled": (bool, True, None), "symbols": (int, 20, _positive),
                  "messages": (int, 50_000, _positive), "rate": (float, 20_000.0, _nonneg),
                  "seed": (int, 7, _nonneg), "max_payload": (int, 64, None),
                  "recovery": (bool, True, None), "faults": (str, "", _fault_plan)},
    "telemetry": {"max_rows": (int, 1 << 20, _nonneg), "row_every": (int, 1, _positive)},
    "gateway": {"host": (str, "127.0.0.1", _ipv4), "port": (int, 0, _port),
                "username": (str, "TRADER", _username), "password": (str, "tickpath", _password),
                "journal": (str, "", None),
                "fsync": (str, "interval", _one_of("always", "interval", "never")),
                "stale_s": (float, 3.0, _positive_s), "heartbeat_s": (float, 1.0, _positive_s)},
}


@dataclass
class PipelineConfig:
    """The checked configuration: ``cfg["ring"]["capacity"]``, ``cfg.get("stages.feed")``."""

    sections: dict[str, dict[str, Any]]
    source: str = "<defaults>"
    #: the keys the source gave (``"stages.venue.idle"``), as against defaults filled in
    given: frozenset[str] = frozenset()

    def __getitem__(self, section: str) -> dict[str, Any]:
        return self.sections[section]

    def get(self, section: str) -> dict[str, Any]:
        return self.sections[section]

    def as_dict(self) -> dict[str, dict[str, Any]]:
        return {k: dict(v) for k, v in self.sections.items()}

    def was_given(self, key: str) -> bool:
        """Whether ``key`` (``"stages.venue.idle"``) came from the source, not a default."""
        return key in self.given


def _check(name: str, typ: type, value: Any, check) -> Any:
    if typ is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if typ is int and isinstance(value, bool) or not isinstance(value, typ):
        raise ConfigError(f"{name}: expected {typ.__name__}, got {type(value).__name__} "
                          f"{value!r}")
    if check is not None and (why := check(value)) is not None:
        raise ConfigError(f"{name} = {value!r}: {why}")
    return value


def from_dict(data: dict[str, Any], source: str = "<dict>") -> PipelineConfig:
    """Check ``data`` (as ``tomllib`` parses it) and fill in the defaults."""
    flat: dict[str, Any] = {}
    for key, val in data.items():
        if key == "stages" and isinstance(val, dict):
            for stage, sub in val.items():
                flat[f"stages.{stage}"] = sub
        else:
            flat[key] = val
    out: dict[str, dict[str, Any]] = {}
    for sec, given in flat.items():
        if sec not in SCHEMA:
            raise ConfigError(f"unknown section [{sec}] in {source}; known: "
                              f"{', '.join(SCHEMA)}")
        if not isinstance(given, dict):
            raise ConfigError(f"[{sec}] must be a table of keys, got {given!r}")
        for key in given:
            if key not in SCHEMA[sec]:
                raise ConfigError(f"unknown key {sec}.{key} in {source}; [{sec}] takes "
                                  f"{', '.join(SCHEMA[sec])}")
    for sec, keys in SCHEMA.items():
        given = flat.get(sec, {})
        out[sec] = {k: _check(f"{sec}.{k}", typ, given[k], chk) if k in given else
                    (list(default) if isinstance(default, list) else default)
                    for k, (typ, default, chk) in keys.items()}
    sim, feed = out["simulator"], out["feed"]
    if sim["enabled"] and not 1 <= sim["symbols"] <= 0xFFFF:
        raise ConfigError(f"simulator.symbols = {sim['symbols']}: must be 1..65535")
    if sim["enabled"] and sim["messages"] < 2 * sim["symbols"] + 6:
        raise ConfigError(f"simulator.messages = {sim['messages']}: too few for "
                          f"{sim['symbols']} symbols (needs >= {2 * sim['symbols'] + 6})")
    if not sim["enabled"] and feed["port"] == 0:
        raise ConfigError("feed.port: an external feed needs its UDP port (0 picks a free "
                          "port, which only the built-in simulator can follow)")
    if not sim["enabled"] and out["gateway"]["port"] == 0:
        raise ConfigError("gateway.port: an external venue's order entry needs its TCP port (0 "
                          "picks a free port, which only the built-in simulator can follow)")
    if not 64 <= sim["max_payload"] <= 65_000:
        raise ConfigError(f"simulator.max_payload = {sim['max_payload']}: must be 64..65000")
    for stage in STAGE_NAMES:
        s = out[f"stages.{stage}"]
        if s["max_park_ns"] < s["min_park_ns"]:
            raise ConfigError(f"stages.{stage}.max_park_ns = {s['max_park_ns']}: must be >= "
                              f"stages.{stage}.min_park_ns ({s['min_park_ns']})")
    given = frozenset(f"{sec}.{k}" for sec, keys in flat.items() for k in keys)
    return PipelineConfig(out, source, given)


def read_toml(path: str | Path) -> dict[str, Any]:
    """A pipeline TOML file as ``tomllib`` parses it (unchecked: :func:`from_dict` checks)."""
    p = Path(path)
    try:
        return tomllib.loads(p.read_text())
    except FileNotFoundError:
        raise ConfigError(f"no pipeline config at {p}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: not valid TOML: {e}") from None


def load(path: str | Path) -> PipelineConfig:
    """Read and check a pipeline TOML file."""
    return from_dict(read_toml(path), str(path))
