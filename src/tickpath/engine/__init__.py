"""Assembly of rooms into a working path: feed handlers, replay, live listening."""
