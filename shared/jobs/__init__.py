"""Background work: the one queue mechanism (`queue`), the shop"s workers and queues
(`workers`), asking for a run now (`triggers`), cleanup, monitoring, and every scheduled run
by name (`schedule`).
"""

__all__ = ["cleanup", "monitoring", "queue", "schedule", "triggers", "workers"]
