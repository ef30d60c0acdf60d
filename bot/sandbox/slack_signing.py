"""What Slack sends a bot, signed as Slack signs it: slash commands, button presses, form
submissions and events. For tests, the sandbox console and the benchmark.

Each builder returns ``(body, headers)`` to POST to ``/slack/events``.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from typing import Any
from urllib.parse import urlencode

_ids = itertools.count(1)


def sign(
    secret: str, body: bytes, now: float | None = None, retry_num: int | None = None
) -> dict[str, str]:
    """Slack's v0 signature headers for ``body`` (``now`` lets a test make a stale one)."""
    timestamp = str(int(time.time() if now is None else now))
    basestring = b"v0:" + timestamp.encode() + b":" + body
    digest = hmac.new(secret.encode(), basestring, hashlib.sha256).hexdigest()
    headers = {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": f"v0={digest}"}
    if retry_num is not None:
        headers["X-Slack-Retry-Num"] = str(retry_num)
        headers["X-Slack-Retry-Reason"] = "http_timeout"
    return headers


def _form(secret: str, fields: dict[str, str], **signing: Any) -> tuple[bytes, dict[str, str]]:
    body = urlencode(fields).encode()
    headers = sign(secret, body, **signing)
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    return body, headers


def _payload(secret: str, payload: dict[str, Any], **signing: Any) -> tuple[bytes, dict[str, str]]:
    return _form(secret, {"payload": json.dumps(payload)}, **signing)


def _json(secret: str, data: dict[str, Any], **signing: Any) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(data).encode()
    headers = sign(secret, body, **signing)
    headers["Content-Type"] = "application/json"
    return body, headers


def trigger() -> str:
    return f"{next(_ids)}.{int(time.time())}.fake{next(_ids):08x}"


def slash_command(
    secret: str,
    *,
    team_id: str,
    user_id: str,
    text: str,
    command: str = "/carebot",
    channel_id: str = "C0STAFF",
    response_url: str = "",
    trigger_id: str | None = None,
    **signing: Any,
) -> tuple[bytes, dict[str, str]]:
    return _form(
        secret,
        {
            "token": "legacy-verification-token",
            "team_id": team_id,
            "team_domain": "carebot-fake",
            "channel_id": channel_id,
            "channel_name": "staff",
            "user_id": user_id,
            "user_name": user_id.lower(),
            "command": command,
            "text": text,
            "api_app_id": "A0CAREBOT",
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": trigger_id or trigger(),
        },
        **signing,
    )


def block_action(
    secret: str,
    *,
    team_id: str,
    user_id: str,
    action_id: str,
    value: str,
    channel_id: str | None = None,
    message_ts: str | None = None,
    response_url: str | None = None,
    view: dict[str, Any] | None = None,
    trigger_id: str | None = None,
    **signing: Any,
) -> tuple[bytes, dict[str, str]]:
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {
            "id": user_id,
            "username": user_id.lower(),
            "name": user_id.lower(),
            "team_id": team_id,
        },
        "api_app_id": "A0CAREBOT",
        "token": "legacy-verification-token",
        "trigger_id": trigger_id or trigger(),
        "team": {"id": team_id, "domain": "carebot-fake"},
        "enterprise": None,
        "is_enterprise_install": False,
        "state": {"values": {}},
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": "b1",
                "text": {"type": "plain_text", "text": action_id, "emoji": True},
                "value": value,
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    if channel_id is not None:
        payload["channel"] = {"id": channel_id, "name": "coordinators"}
        payload["container"] = {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel_id,
        }
        payload["message"] = {
            "type": "message",
            "user": "U0CAREBOT",
            "bot_id": "B0CAREBOT",
            "ts": message_ts,
            "text": "",
            "team": team_id,
            "blocks": [],
        }
        payload["response_url"] = response_url or ""
    if view is not None:
        payload["view"] = view
        payload["container"] = {"type": "view", "view_id": view.get("id", "V0")}
    return _payload(secret, payload, **signing)


def view_submission(
    secret: str,
    *,
    team_id: str,
    user_id: str,
    view: dict[str, Any],
    values: dict[str, Any],
    **signing: Any,
) -> tuple[bytes, dict[str, str]]:
    """Submit an opened modal (as returned by views.open) with ``values`` by block id.

    Values are plain: a string for a text input, select, radio or date; a list for checkboxes.
    """
    state: dict[str, Any] = {}
    kinds = {b["block_id"]: b["element"]["type"] for b in view.get("blocks", [])}
    for block_id, value in values.items():
        kind = kinds.get(block_id, "plain_text_input")
        if kind in ("static_select", "radio_buttons"):
            entry: dict[str, Any] = {"type": kind, "selected_option": {"value": value}}
        elif kind == "checkboxes":
            entry = {"type": kind, "selected_options": [{"value": v} for v in value]}
        elif kind == "datepicker":
            entry = {"type": kind, "selected_date": value}
        else:
            entry = {"type": kind, "value": value}
        state[block_id] = {block_id: entry}
    submitted = dict(view, state={"values": state}, hash=f"h{next(_ids)}")
    payload = {
        "type": "view_submission",
        "team": {"id": team_id, "domain": "carebot-fake"},
        "user": {
            "id": user_id,
            "username": user_id.lower(),
            "name": user_id.lower(),
            "team_id": team_id,
        },
        "api_app_id": "A0CAREBOT",
        "token": "legacy-verification-token",
        "trigger_id": trigger(),
        "view": submitted,
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }
    return _payload(secret, payload, **signing)


def _event(
    secret: str, team_id: str, event: dict[str, Any], event_id: str | None, **signing: Any
) -> tuple[bytes, dict[str, str]]:
    return _json(
        secret,
        {
            "token": "legacy-verification-token",
            "team_id": team_id,
            "context_team_id": team_id,
            "context_enterprise_id": None,
            "api_app_id": "A0CAREBOT",
            "event": event,
            "type": "event_callback",
            "event_id": event_id or f"Ev{next(_ids):010d}",
            "event_time": int(time.time()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": team_id,
                    "user_id": "U0CAREBOT",
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": f"4-fake{next(_ids):08x}",
        },
        **signing,
    )


def message_event(
    secret: str,
    *,
    team_id: str,
    user_id: str,
    channel: str,
    text: str,
    thread_ts: str | None = None,
    channel_type: str = "channel",
    event_id: str | None = None,
    **signing: Any,
) -> tuple[bytes, dict[str, str]]:
    ts = f"{time.time():.6f}"
    event = {
        "client_msg_id": f"{next(_ids):08x}-fake-msg",
        "type": "message",
        "text": text,
        "user": user_id,
        "ts": ts,
        "blocks": [
            {
                "type": "rich_text",
                "block_id": "b1",
                "elements": [
                    {"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}
                ],
            }
        ],
        "team": team_id,
        "channel": channel,
        "event_ts": ts,
        "channel_type": channel_type,
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
    return _event(secret, team_id, event, event_id, **signing)


def app_home_opened(
    secret: str, *, team_id: str, user_id: str, event_id: str | None = None, **signing: Any
) -> tuple[bytes, dict[str, str]]:
    event = {
        "type": "app_home_opened",
        "user": user_id,
        "channel": "D0HOME",
        "tab": "home",
        "event_ts": f"{time.time():.6f}",
    }
    return _event(secret, team_id, event, event_id, **signing)
