"""Outgoing webhooks: harken's events as signed JSON to the receivers alerts.webhooks lists."""
