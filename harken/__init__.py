"""harken: social listening and response.

Collect brand mentions, classify them, route each one to the department that can act on it.
"""

__version__ = "0.1.0"
