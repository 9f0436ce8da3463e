"""What a user runs, each a thin assembly of the rooms below: replay, listen, demo, wire
bench, the budget's run. Nothing imports this room but the command line and the package's
friendly entry points."""
