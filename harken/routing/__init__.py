"""Routing: ordered rules from config.yaml turn a classified mention into queue items."""
