"""Shared-memory rings and the low-level intrinsics compiled code needs (prefetch, atomics)."""
