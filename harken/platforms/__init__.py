"""The platforms harken listens to and answers on, one folder each.

``<name>/`` holds the platform's parser (``parse.py``: its JSON payloads -> records), its live
polling source (``source.py``) and, where its posts can be answered, its reply client
(``reply.py``); its ``__init__`` declares them in one ``Platform`` record (``platform.py``), and
``registry.py`` lists those records, one line per platform.

Shared by every platform: ``base.py`` (parse results and field checks), ``source.py`` (the
source runtime: pages, cursors, retries, rate limits), ``query.py`` (brand queries),
``replay.py`` (reading replay files), ``reply.py`` (the reply client contract and attempt
rules) and ``replies.py`` (``reply_problems`` and ``send_reply``, which callers use).
"""
