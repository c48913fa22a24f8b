"""The console sink: alerts and the digest printed in the terminal (sink.py), and its plug-in."""
