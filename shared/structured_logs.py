"""Structured JSON logs, with secrets and personal data redacted before they are written.

One JSON object per line (what CloudWatch Logs Insights queries), carrying the ids a
record names (`order_id`, `job_id`, `event_id`, ...) as fields. Keys, tokens and email
addresses are masked wherever they appear in a message: a download token in a log is a
working link for whoever reads the log.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

REDACTIONS = [
    (re.compile(r"rc_dl_[A-Za-z0-9_-]{8,}"), "rc_dl_[redacted]"),
    (re.compile(r"\b(sk|rk|pk)_(live|test)_[A-Za-z0-9]{8,}"), r"\1_\2_[redacted]"),
    (re.compile(r"\bwhsec_[A-Za-z0-9_]{8,}"), "whsec_[redacted]"),
    (re.compile(r"\br8_[A-Za-z0-9]{8,}"), "r8_[redacted]"),
    (re.compile(r"\bSG\.[A-Za-z0-9_.-]{8,}"), "SG.[redacted]"),
    (re.compile(r"(?i)(bearer\s+)[^\s\"']+"), r"\1[redacted]"),
    (re.compile(r"(?i)(sig=|token=|signature=)[^&\s\"']+"), r"\1[redacted]"),
    (re.compile(r"(postgres(?:ql)?://[^:/@\s]+:)[^@\s]+@"), r"\1[redacted]@"),
    (re.compile(r"[A-Za-z0-9._%+-]+@([A-Za-z0-9-]+\.)+[A-Za-z]{2,}"), "[email]"),
]
CONTEXT_FIELDS = ("order_id", "order_number", "job_id", "event_id", "worker", "queue", "report")


def redact(text: str) -> str:
    for pattern, replacement in REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        for name in CONTEXT_FIELDS:
            if hasattr(record, name):
                entry[name] = getattr(record, name)
        if record.exc_info:
            entry["error"] = redact(self.formatException(record.exc_info))
        return redact(json.dumps(entry, default=str))


_configured = False


def configure_logging(level: int = logging.INFO) -> None:
    """Send the shop's logs as redacted JSON lines to stderr (once per process)."""
    global _configured
    if _configured:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    shop = logging.getLogger("restoreclick")
    shop.handlers[:] = [handler]
    shop.setLevel(level)
    shop.propagate = False
    _configured = True
