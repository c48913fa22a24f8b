"""Alert sinks and the outbox sender."""
