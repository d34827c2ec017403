"""Structured JSON logs, with secrets and personal data redacted before they are written.

One JSON object per line (what CloudWatch Logs Insights queries), carrying every extra
field a record was given (`order_id`, `job_id`, `prediction_id`, ...) and the ids of the
request it belongs to: `request_id` (API Gateway's, or one made up under the dev server)
and `lambda_request_id` (the invocation's). Keys, tokens and email addresses are masked
wherever they appear, in the message or in any field, and a field whose name says it is a
secret is masked whole: a download token in a log is a working link for whoever reads it.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
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
    # Anchored at the start of a run and bounded (64 before the @, 63 a label, as email
    # allows): an unanchored `[...]+@` retries from every position of a long run with no @
    # in it, quadratic in the input, and a logged 30,000-character id then stalls the process.
    (re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}@(?:[A-Za-z0-9-]{1,63}\.){1,8}[A-Za-z]{2,63}"), "[email]"),
]
# What every LogRecord has; anything else on a record is an extra field the caller gave.
STANDARD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
SECRET_FIELD = re.compile(r"(?i)(secret|password|passwd|token|api_?key|authorization|signature|cookie)")
_request_ids: contextvars.ContextVar[dict[str, str]] = contextvars.ContextVar("request_ids", default={})  # noqa: B039


@contextmanager
def request_ids(**ids: str | None) -> Iterator[None]:
    """Put these ids (`request_id`, `lambda_request_id`) on every line logged inside."""
    token = _request_ids.set({**_request_ids.get(), **{k: v for k, v in ids.items() if v}})
    try:
        yield
    finally:
        _request_ids.reset(token)


def current_request_id() -> str | None:
    """The id of the request being served (API Gateway's, or the dev server's), if any."""
    return _request_ids.get().get("request_id")


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
        entry.update(_request_ids.get())
        for name, value in vars(record).items():
            if name not in STANDARD_ATTRIBUTES and name not in entry:
                entry[name] = "[redacted]" if SECRET_FIELD.search(name) else value
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
