"""Order entry, client side: our orders' state, positions and P&L from fills
(:mod:`.layout`, kernels in :mod:`.orders`), the write-ahead order journal (:mod:`.journal`)
and the SoupBinTCP/OUCH 5.0 session (:mod:`.session`: ``OrderSession``). docs/gateway.md."""
