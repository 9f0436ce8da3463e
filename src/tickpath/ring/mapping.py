"""Closing a memory mapping that numpy views may still hold."""

from __future__ import annotations

import mmap


def unmap(m: mmap.mmap | None) -> None:
    """Close ``m`` (None is fine). While a numpy view of it is still alive the mapping cannot
    close (BufferError): it is then unmapped when the last view goes, so closing never fails
    an owner's clean-up."""
    if m is None:
        return
    try:
        m.close()
    except BufferError:
        pass
