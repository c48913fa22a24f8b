"""harken's Slack app: a face like the CLI. Department members act on queue items from the
alert itself (claim, resolve, dismiss with a reason, reopen, transfer); each control calls the
same queue action as `harken queue ...`, as the Slack user (identity.py), and the alert is
updated in place. `harken slack serve` runs it in Socket Mode or over HTTP (serve.py)."""
