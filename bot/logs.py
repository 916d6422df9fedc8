"""Logging set-up: plain lines for people, or one JSON object per line for log pipelines.

Customer text never goes into a log record in the first place (the engine and adapters log
ids, states and reasons); this module only decides the shape of the lines.
"""

from __future__ import annotations

import json
import logging
import sys
import time

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message"[, "error"]}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one JSON line (UTC ISO-8601 time)."""
        data = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            data["error"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


def configure(level: int, log_format: str = "text") -> None:
    """Send log records at ``level`` and above to standard error, as text or JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    )
    logging.basicConfig(level=level, handlers=[handler])
