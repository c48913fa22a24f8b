"""Zendesk Support: queue items as tickets (API v2)."""
