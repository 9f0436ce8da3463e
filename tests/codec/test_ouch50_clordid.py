"""tickpath's ClOrdID convention: the trigger's sequence number as 14 digits."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tickpath.codec.ouch50.clordid import put_trigger, trigger_cl_ord_id, trigger_of


@given(st.integers(0, 10**14 - 1))
def test_compiled_and_python_agree(seq):
    buf = np.zeros(14, np.uint8)
    put_trigger(buf, seq)
    assert buf.tobytes() == trigger_cl_ord_id(seq).tobytes()
    assert trigger_of(buf.tobytes()) == seq


def test_not_the_convention():
    assert trigger_of(b"TP000000000001") is None
    assert trigger_of(b"123") is None
    with pytest.raises(ValueError, match="14 digits"):
        trigger_cl_ord_id(10**14)
