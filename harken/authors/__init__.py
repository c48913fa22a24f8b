"""Who wrote a post, as the brand sees them: its own accounts, its staff, partners, moderators,
press and competitors (``accounts:`` in config; RSS/news sources count as press), and the
authors who imitate them.

``roles.py``: ``role_of`` and ``author_role`` (the role and where it came from, for explain).
"""

from harken.authors.roles import ROLES, AuthorRole, author_role, role_of

__all__ = ["ROLES", "AuthorRole", "author_role", "role_of"]
