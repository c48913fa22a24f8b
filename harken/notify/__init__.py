"""Alert sinks and the outbox sender.

contract.py says what a sink is; registry.py lists the sinks (one folder each: console/,
slack/, email/); outbox.py delivers what is due, in order, within the noise budget (budget.py).
"""
