"""The itch50 package's public names, and the kernels outside the JIT (NUMBA_DISABLE_JIT=1)."""

from __future__ import annotations

import os
import subprocess
import sys

import tickpath.codec.itch50 as itch50
import tickpath.codec.itch50.encoder  # noqa: F401  (the compiled encoder submodule, as the feed imports it)


def test_package_encode_is_the_message_encoder():
    assert callable(itch50.encode)
    assert itch50.encode("D", order_reference_number=1)[0] == ord("D")


def test_package_fields_and_decode_fields_are_functions():
    from tickpath.codec.itch50.message import decode_fields, fields

    assert itch50.fields is fields and itch50.decode_fields is decode_fields


_NO_JIT = """
import numpy as np
from tickpath.codec.itch50.decode import decode_batch
from tickpath.codec.itch50.layout import EVENT_DTYPE, LENGTHS
from tickpath.codec.itch50.message import encode
m = encode("D", order_reference_number=7)
buf = np.frombuffer(len(m).to_bytes(2, "big") + m, np.uint8)
out = np.zeros(2, EVENT_DTYPE)
count, status, offset = decode_batch(buf, 0, buf.size, LENGTHS, out, 0, 0)
assert (int(count), int(status), int(offset)) == (1, 0, 21), (count, status, offset)
assert int(out[0]["ref"]) == 7
"""


def test_decode_batch_without_jit():
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    res = subprocess.run([sys.executable, "-c", _NO_JIT], capture_output=True, text=True,
                         env=env, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
