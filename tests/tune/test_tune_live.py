"""The audit on the machine running the tests: every item answered, never a traceback.

What the answers are depends on the host (here a 2-core KVM guest); only their shape is checked,
plus facts every Linux host shows.
"""

from __future__ import annotations

import json
import os

from typer.testing import CliRunner

from tickpath.tune import ITEM_IDS, Status, audit
from tickpath.tune.cli import app


def test_live_host_every_item_answered():
    items = audit("/")
    assert [i.id for i in items] == list(ITEM_IDS)
    for it in items:
        assert isinstance(it.status, Status)
        assert it.summary, it.id
        assert "the check failed" not in it.summary, (it.id, it.summary)
        assert it.evidence, it.id
    by = {i.id: i for i in items}
    assert by["cpu.pinned"].status is Status.WARN          # no cores given
    assert by["clock.source"].status is not Status.UNKNOWN  # every Linux has a clocksource
    assert by["virt.steal"].status is not Status.UNKNOWN


def test_live_host_with_cores_and_the_ioctls():
    cores = sorted(os.sched_getaffinity(0))[:1]
    items = {i.id: i for i in audit("/", cores=cores)}
    assert items["cpu.pinned"].status in (Status.OK, Status.WARN)
    # on the live host the NIC items come from ethtool ioctls, not from "needs the live host"
    for id_ in ("nic.rings", "nic.coalesce", "nic.timestamping"):
        assert "needs the live host" not in items[id_].summary


def test_live_cli_json():
    r = CliRunner().invoke(app, ["audit", "--json"])
    assert r.exit_code in (0, 1), r.output
    doc = json.loads(r.stdout)
    assert len(doc) == len(ITEM_IDS)
    assert r.exit_code == (1 if any(d["status"] == "fail" for d in doc) else 0)
