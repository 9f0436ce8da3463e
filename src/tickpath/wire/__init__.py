"""Transports: each receiver yields frames (a view and an rx timestamp); senders take bytes."""
