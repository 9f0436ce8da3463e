"""Network namespaces joined by a veth pair, made and deleted by the tests themselves."""

from __future__ import annotations

import pytest

from tickpath.wire.netns import NetnsUnavailable, check, veth_pair


@pytest.fixture
def veth():
    try:
        check()
    except NetnsUnavailable as e:
        pytest.skip(str(e))
    with veth_pair() as pair:
        yield pair
