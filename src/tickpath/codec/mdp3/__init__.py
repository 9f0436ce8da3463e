"""CME MDP 3.0 market data over SBE: generated schema modules (``schema_v9``: the legacy
templates 27/32/38/42/43/44 beside the current 46-56; ``schema_v13``: today's production
schema), each a module of constants and compiled accessors plus the schema as plain data; and
the packet framing (``packet``: header, size-prefixed messages, a Python packet decoder)."""
