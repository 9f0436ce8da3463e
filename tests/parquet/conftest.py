"""tests/parquet: a simulated day replayed with --parquet, checked against
tests/reference/parquet_rows.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tickpath import Simulator

# the reference models live in tests/reference (importable as ``reference``)
_TESTS = str(Path(__file__).resolve().parents[1])
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)

from reference.parquet_rows import Reference, reference  # noqa: E402


@pytest.fixture(scope="session")
def sim_day(tmp_path_factory) -> tuple[Path, Simulator]:
    """A simulated day: 20 instruments, 20,000 messages."""
    path = tmp_path_factory.mktemp("parquet") / "day.itch"
    sim = Simulator(symbols=20, messages=20_000, seed=9)
    sim.write(path)
    return path, sim


@pytest.fixture(scope="session")
def sim_reference(sim_day) -> Reference:
    return reference(sim_day[0])
