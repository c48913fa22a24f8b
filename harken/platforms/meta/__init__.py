"""What Facebook and Instagram share: the Meta Graph API (``graph.py``: calls, usage headers,
errors) and the polling walk over its edges (``walk.py``). Not a platform itself: the two
platforms are ``harken/platforms/facebook`` and ``harken/platforms/instagram``."""
