"""PagerDuty (Events API v2): page on-call for critical items, impostors and spikes."""
