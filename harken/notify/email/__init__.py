"""The e-mail sink: the digest sent by SMTP (smtp.py, sink.py), and its plug-in (plugin.py)."""
