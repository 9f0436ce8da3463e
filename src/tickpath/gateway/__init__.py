"""Order entry, client side: our orders' state, positions and P&L from fills
(:mod:`.layout`)."""
