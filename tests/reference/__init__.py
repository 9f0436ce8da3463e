"""Small, obviously-correct pure-Python models that property tests compare the real code to."""
