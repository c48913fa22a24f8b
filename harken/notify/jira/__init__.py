"""Jira Cloud: queue items as issues (REST API v3)."""
