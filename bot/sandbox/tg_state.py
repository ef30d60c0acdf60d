"""Bot-level state behind :class:`~bot.sandbox.fake_telegram.FakeTelegram`.

Commands, webhook settings and the queue of updates awaiting getUpdates.
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
from typing import Any

from bot.sandbox.tg_wire import ApiError

_COMMAND_NAME = re.compile(r"[a-z0-9_]{1,32}")
_DEFAULT_SCOPE: dict[str, Any] = {"type": "default"}


def _scope_key(params: dict[str, Any]) -> tuple[str, str]:
    scope = params.get("scope") or _DEFAULT_SCOPE
    return json.dumps(scope, sort_keys=True), str(params.get("language_code") or "")


class CommandRegistry:
    """Bot commands per (scope, language_code), as set/get/deleteMyCommands see them."""

    def __init__(self) -> None:
        self._commands: dict[tuple[str, str], list[dict[str, Any]]] = {}

    def set(self, params: dict[str, Any]) -> bool:
        """setMyCommands: validate and store ``commands`` (an empty list clears them)."""
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise ApiError(400, "Bad Request: can't parse commands JSON object")
        for command in commands:
            if not isinstance(command, dict):
                raise ApiError(400, "Bad Request: can't parse BotCommand JSON object")
            name, description = command.get("command"), command.get("description")
            if not isinstance(name, str) or not _COMMAND_NAME.fullmatch(name):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not isinstance(description, str) or not 1 <= len(description) <= 256:
                raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        key = _scope_key(params)
        if commands:
            self._commands[key] = [
                {"command": c["command"], "description": c["description"]} for c in commands
            ]
        else:
            self._commands.pop(key, None)
        return True

    def get(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        """getMyCommands: exactly this scope and language's commands (no fallback, as for real)."""
        return copy.deepcopy(self._commands.get(_scope_key(params), []))

    def delete(self, params: dict[str, Any]) -> bool:
        """deleteMyCommands: forget the commands for this scope and language."""
        self._commands.pop(_scope_key(params), None)
        return True


_SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")


class WebhookState:
    """What setWebhook stored: ``url`` ("" when none), ``secret_token`` and options."""

    def __init__(self) -> None:
        self.url = ""
        self.secret_token: str | None = None
        self.max_connections = 40
        self.allowed_updates: list[str] | None = None
        self.ip_address: str | None = None

    def set(self, params: dict[str, Any]) -> None:
        """Apply setWebhook parameters (an empty ``url`` removes the webhook)."""
        url = params.get("url")
        if not isinstance(url, str):
            raise ApiError(400, "Bad Request: bad webhook: URL must be provided")
        if url and not url.startswith(("https://", "http://")):
            raise ApiError(400, "Bad Request: bad webhook: An HTTPS URL must be provided")
        secret = params.get("secret_token")
        if secret is not None and not (isinstance(secret, str) and _SECRET_TOKEN.fullmatch(secret)):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        self.url = url
        self.secret_token = secret if url else None
        max_connections = params.get("max_connections")
        self.max_connections = max_connections if isinstance(max_connections, int) else 40
        allowed = params.get("allowed_updates")
        self.allowed_updates = allowed if isinstance(allowed, list) else None
        ip_address = params.get("ip_address")
        self.ip_address = ip_address if isinstance(ip_address, str) else None

    def info(self, pending: int) -> dict[str, Any]:
        """A ``WebhookInfo`` (which, like the real one, never reveals the secret token)."""
        info: dict[str, Any] = {
            "url": self.url,
            "has_custom_certificate": False,
            "pending_update_count": pending,
        }
        if self.url:
            info["max_connections"] = self.max_connections
            if self.ip_address:
                info["ip_address"] = self.ip_address
            if self.allowed_updates is not None:
                info["allowed_updates"] = self.allowed_updates
        return info


#: Update types not delivered unless ``allowed_updates`` names them.
NOT_DELIVERED_BY_DEFAULT = frozenset({"chat_member", "message_reaction", "message_reaction_count"})


class UpdateQueue:
    """Updates waiting for getUpdates, with the API's offset confirmation and type filter.

    :attr:`changed` is set (and replaced by a fresh event) whenever a long poll should look
    again; grab it *before* checking for updates, then wait on it.
    """

    def __init__(self) -> None:
        self._updates: list[dict[str, Any]] = []
        self._allowed: list[str] = []
        self.changed = asyncio.Event()

    def __len__(self) -> int:
        return len(self._updates)

    def snapshot(self) -> list[dict[str, Any]]:
        """Copies of the queued updates, oldest first."""
        return copy.deepcopy(self._updates)

    def push(self, update: dict[str, Any]) -> None:
        """Queue ``update`` (kept in ``update_id`` order) and wake long polls."""
        self._updates.append(update)
        self._updates.sort(key=lambda u: u["update_id"])
        self.wake()

    def clear(self) -> None:
        """Drop everything (``drop_pending_updates``)."""
        self._updates.clear()

    def confirm(self, offset: Any) -> None:
        """Forget updates below ``offset``; a negative one keeps only the newest ``-offset``."""
        if isinstance(offset, int) and not isinstance(offset, bool):
            if offset < 0:
                self._updates = self._updates[offset:]
            else:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]

    def allow(self, allowed_updates: Any) -> None:
        """Remember ``allowed_updates`` if given (a list; empty means the default set)."""
        if isinstance(allowed_updates, list):
            self._allowed = [str(kind) for kind in allowed_updates]

    def batch(self, limit: int) -> list[dict[str, Any]]:
        """Copies of up to ``limit`` updates, oldest first.

        Updates of a type ``allowed_updates`` excludes are dropped here: the real API never
        queues them in the first place.
        """
        self._updates = [u for u in self._updates if self._deliverable(u)]
        return copy.deepcopy(self._updates[:limit])

    def wake(self) -> None:
        """Wake every waiting long poll."""
        self.changed.set()
        self.changed = asyncio.Event()

    def _deliverable(self, update: dict[str, Any]) -> bool:
        kind = next((key for key in update if key != "update_id"), "")
        if self._allowed:
            return kind in self._allowed
        return kind not in NOT_DELIVERED_BY_DEFAULT
