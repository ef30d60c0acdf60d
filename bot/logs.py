"""Log levels of the libraries carebot wires, set so that no log line carries what it must not.

httpx logs every request URL at INFO, and a Telegram URL carries the bot token; the twilio
library logs each request (numbers and message text) at INFO. Bolt's loggers are quietened where
the Slack adapter builds its app (bot/channels/slack.py). Called by the CLI and the composition
root alike, so that tests log what production logs.
"""

from __future__ import annotations

import logging

#: Library loggers held at WARNING.
QUIET = ("httpx", "httpcore", "twilio", "twilio.http_client", "aiosqlite", "apscheduler")


def quiet_libraries() -> None:
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
