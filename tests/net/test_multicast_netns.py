"""Multicast publish and receive inside a network namespace this test makes and deletes.

Needs root and iproute2 (CI has both); skips with the reason otherwise. Traffic stays on the
namespace's own loopback.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import uuid

import pytest

pytestmark = pytest.mark.net

GROUP = "233.54.12.1"


@pytest.fixture
def netns():
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    if shutil.which("ip") is None:
        pytest.skip("iproute2's `ip` is not installed (make test installs it)")
    name = f"tp-mc-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        for cmd in (["ip", "link", "set", "lo", "up"],
                    ["ip", "link", "set", "lo", "multicast", "on"],
                    ["ip", "route", "add", "224.0.0.0/4", "dev", "lo"]):
            subprocess.run(["ip", "netns", "exec", name, *cmd], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False)


SCRIPT = textwrap.dedent(f"""
    import json, threading
    from tickpath import BookStore, ItchHandler, Simulator
    from tickpath.apps.listener import FeedListener
    from tickpath.venue.publisher import UdpPublisher
    from tickpath.wire.socket import UdpReceiver

    sim = Simulator(symbols=10, messages=5000, seed=4)
    blocks = sim.blocks()
    handler = ItchHandler(BookStore(max_orders=1 << 12, errors="skip"), errors="skip")
    handler.warm_up()
    rx = UdpReceiver("{GROUP}", 26400, iface_ip="127.0.0.1")
    ready = threading.Event()

    def publish():
        with UdpPublisher("{GROUP}", 26400, iface_ip="127.0.0.1") as pub:
            pub.warm_up()
            ready.wait(10)
            pub.publish([blocks], rate=20000)
            pub.end_session()

    t = threading.Thread(target=publish)
    t.start()
    rep = FeedListener(rx, handler).run(duration=60, idle_timeout=5, on_ready=ready.set)
    t.join()
    got = {{b["locate"]: b for b in handler.books.books()}}
    print(json.dumps({{"messages": rep.messages, "gaps": rep.session["gaps"],
                       "equal": got == sim.books(), "ended": rep.ended}}))
""")


def test_multicast_group_in_namespace(netns):
    r = subprocess.run(["ip", "netns", "exec", netns, sys.executable, "-c", SCRIPT],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    import json

    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out == {"messages": 5000, "gaps": 0, "equal": True, "ended": True}
