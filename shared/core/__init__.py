"""What every other folder stands on: one Settings (`config`), the database (`db`: connection,
transaction, error translation) and its named queries (`sql`), domain errors (`errors`), the
app factory and error handlers (`http`), structured logs (`logs`), the audit trail (`audit`),
the error log (`error_log`) and request counting (`throttle`). Nothing here imports another folder of shared/.
"""

__all__ = ["audit", "config", "db", "error_log", "errors", "http", "logs", "sql", "throttle"]
