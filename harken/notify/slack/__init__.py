"""The Slack sink: messages (message.py, format.py), delivery by bot token or webhook
(client.py, mode.py), and its plug-in (plugin.py)."""
