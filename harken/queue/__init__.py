"""Department queues: the items people work on, and everything they do to them.

- ``actions``: every change (claim, assign, transfer, resolve, dismiss, reopen, note, tag,
  approve and send a reply), each by an actor, permission-checked, one event each
- ``actors``: who acts (``Actor``), the permission hook
- ``items``: statuses, loading an item, recording an event
- ``views``: reading (``queue list`` and ``queue show``)
- ``replies``: planning a reply and its templates (nothing sent)
- ``escalation``: the SLA job that escalates overdue items
"""
