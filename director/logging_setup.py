"""Log configuration, with secrets scrubbed from every record whatever logs them."""

from __future__ import annotations

import logging
import re

_SECRET_PATTERNS = [
    re.compile(r"bot\d+:[A-Za-z0-9_-]{20,}"),  # a Telegram token inside a Bot API URL
    re.compile(r"\b\d{6,}:[A-Za-z0-9_-]{30,}\b"),  # a bare Telegram token
    re.compile(r"sk-ant-[A-Za-z0-9_-]+"),  # an Anthropic key
]


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        scrubbed = message
        for pattern in _SECRET_PATTERNS:
            scrubbed = pattern.sub("[REDACTED]", scrubbed)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        return True


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request URL at INFO, and a Bot API URL carries the token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
