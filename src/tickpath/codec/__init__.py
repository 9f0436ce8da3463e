"""Exchange protocol codecs, one package per protocol."""
