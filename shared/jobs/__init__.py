"""Background work: the one queue mechanism (`queue`), every queue's definition (`queues`), the
shop's workers by name (`workers`), asking for a run now (`triggers`), cleanup, monitoring, and every scheduled run
by name (`schedule`).
"""

__all__ = ["cleanup", "monitoring", "queue", "queues", "schedule", "triggers", "workers"]
