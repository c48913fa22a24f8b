"""Microsoft Teams: alerts and the digest summary as Adaptive Cards through Workflows webhooks."""
