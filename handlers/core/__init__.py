"""The framework pieces: event types, router, chain, pipeline, context and content contracts.

Nothing here knows a capability; capabilities (``handlers/family``, ``handlers/staff``...)
register on a router and are merged by the composition root (``bot/app.py``).
"""
