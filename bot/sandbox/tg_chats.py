"""The chats behind :class:`~bot.sandbox.fake_telegram.FakeTelegram`: messages and users.

Everything is a plain dict in the Bot API's JSON shape, so results can be returned as they are
and parsed by ``telegram.Update.de_json`` and friends.
"""

from __future__ import annotations

import copy
import re
import zlib
from collections.abc import Callable
from typing import Any

from bot.sandbox.tg_wire import ApiError

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)
_COMMAND_IN_TEXT = re.compile(r"(?<!\S)/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,64})?(?!\w)")


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of Bot API entity offsets and lengths."""
    return len(text.encode("utf-16-le")) // 2


def command_entities(text: str) -> list[dict[str, Any]]:
    """``bot_command`` entities for each ``/command`` (or ``/command@bot``) in ``text``."""
    return [
        {
            "offset": utf16_len(text[: m.start()]),
            "length": utf16_len(m.group()),
            "type": "bot_command",
        }
        for m in _COMMAND_IN_TEXT.finditer(text)
    ]


def inline_markup(markup: Any) -> dict[str, Any] | None:
    """The markup a sent Message echoes: only inline keyboards are part of a Message."""
    if isinstance(markup, dict) and "inline_keyboard" in markup:
        return markup
    return None


def callback_datas(message: dict[str, Any]) -> set[str]:
    """The ``callback_data`` of every inline button on ``message``."""
    rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
    return {b["callback_data"] for row in rows for b in row if "callback_data" in b}


def chat_shape(chat_id: int, first_name: str) -> dict[str, Any]:
    """A ``Chat``: private for positive ids, (super)group for negative ones."""
    if chat_id > 0:
        return {"id": chat_id, "first_name": first_name, "type": "private"}
    kind = "supergroup" if str(chat_id).startswith("-100") else "group"
    return {"id": chat_id, "title": "Sandbox group", "type": kind}


def chat_id_param(params: dict[str, Any]) -> int:
    """The numeric ``chat_id`` of a call, or the real API's error for a missing/unknown one."""
    chat_id = params.get("chat_id")
    if chat_id is None or chat_id == "":
        raise ApiError(400, "Bad Request: chat_id is empty")
    if not isinstance(chat_id, int) or isinstance(chat_id, bool) or chat_id == 0:
        raise ApiError(400, "Bad Request: chat not found")
    return chat_id


def text_param(params: dict[str, Any]) -> str:
    """The ``text`` of a call, checked like the real API (non-blank, at most 4096 units)."""
    text = params.get("text")
    if isinstance(text, int | float) and not isinstance(text, bool):
        text = str(text)
    if not isinstance(text, str) or not text.strip():
        raise ApiError(400, "Bad Request: message text is empty")
    if utf16_len(text) > 4096:
        raise ApiError(400, "Bad Request: message is too long")
    return text


class Chats:
    """Every message in every chat (the users' and the bot's) and the users met so far.

    ``message_id`` counts per chat; in a private chat both sides share the counter, as on real
    Telegram. Methods named after API calls take the decoded parameters and return the result
    or raise :class:`~bot.sandbox.tg_wire.ApiError`.
    """

    def __init__(self, bot_user: Callable[[], dict[str, Any]], now: Callable[[], int]) -> None:
        self._bot_user = bot_user
        self._now = now
        self._chats: dict[int, dict[int, dict[str, Any]]] = {}
        self._last_id: dict[int, int] = {}
        self._users: dict[int, dict[str, Any]] = {}
        self._callback_seq = 0

    # -- reading ----------------------------------------------------------------------------

    def messages(self, chat_id: int, *, sender_id: int | None = None) -> list[dict[str, Any]]:
        """Copies of the chat's messages in order, optionally only those from ``sender_id``."""
        return [
            copy.deepcopy(m)
            for m in self._chats.get(chat_id, {}).values()
            if sender_id is None or m["from"]["id"] == sender_id
        ]

    # -- API methods ------------------------------------------------------------------------

    def send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        """sendMessage: store and return the new Message (inline keyboards are echoed)."""
        chat_id = chat_id_param(params)
        first_name = self._users.get(chat_id, {}).get("first_name", "User")
        message: dict[str, Any] = {
            "from": self._bot_user(),
            "chat": chat_shape(chat_id, first_name),
            "date": self._now(),
            "text": text_param(params),
        }
        if isinstance(params.get("entities"), list):
            message["entities"] = params["entities"]
        markup = inline_markup(params.get("reply_markup"))
        if markup is not None:
            message["reply_markup"] = markup
        return copy.deepcopy(self._add(chat_id, message))

    def edit_message_text(self, params: dict[str, Any]) -> Any:
        """editMessageText: the edited Message (True for inline messages)."""
        if params.get("inline_message_id"):
            return True
        message = self._editable(params)
        text, markup = text_param(params), inline_markup(params.get("reply_markup"))
        if message.get("text") == text and message.get("reply_markup") == markup:
            raise ApiError(400, NOT_MODIFIED)
        message["text"] = text
        message.pop("entities", None)
        if isinstance(params.get("entities"), list):
            message["entities"] = params["entities"]
        return self._edited(message, markup)

    def edit_message_reply_markup(self, params: dict[str, Any]) -> Any:
        """editMessageReplyMarkup: the edited Message (True for inline messages)."""
        if params.get("inline_message_id"):
            return True
        message = self._editable(params)
        markup = inline_markup(params.get("reply_markup"))
        if message.get("reply_markup") == markup:
            raise ApiError(400, NOT_MODIFIED)
        return self._edited(message, markup)

    def delete_message(self, params: dict[str, Any]) -> bool:
        """deleteMessage: forget the message (either side's, as bots may in private chats)."""
        message_id = params.get("message_id")
        if not isinstance(message_id, int):
            raise ApiError(400, "Bad Request: message identifier is not specified")
        if self._chats.get(chat_id_param(params), {}).pop(message_id, None) is None:
            raise ApiError(400, "Bad Request: message to delete not found")
        return True

    def answer_callback_query(self, params: dict[str, Any]) -> bool:
        """answerCallbackQuery: True for any query id (answers are only recorded)."""
        if not params.get("callback_query_id"):
            raise ApiError(
                400,
                "Bad Request: query is too old and response timeout expired or query ID is invalid",
            )
        return True

    # -- what users do ----------------------------------------------------------------------

    def user_message(
        self, user_id: int, text: str, first_name: str, language_code: str
    ) -> dict[str, Any]:
        """Store and return a private-chat text message from a user, with command entities."""
        message: dict[str, Any] = {
            "from": self._user(user_id, first_name, language_code),
            "chat": chat_shape(user_id, first_name),
            "date": self._now(),
            "text": text,
        }
        entities = command_entities(text)
        if entities:
            message["entities"] = entities
        return copy.deepcopy(self._add(user_id, message))

    def callback_query(
        self,
        user_id: int,
        data: str,
        message_id: int | None,
        first_name: str,
        language_code: str,
    ) -> dict[str, Any]:
        """A ``CallbackQuery`` for pressing the button with ``data`` (see FakeTelegram)."""
        bot_id = self._bot_user()["id"]
        messages = self._chats.get(user_id, {})
        if message_id is None:
            target = next(
                (
                    m
                    for m in reversed(messages.values())
                    if m["from"]["id"] == bot_id and data in callback_datas(m)
                ),
                None,
            )
        else:
            target = messages.get(message_id)
            if target is not None and target["from"]["id"] != bot_id:
                raise ValueError(f"message {message_id} in chat {user_id} is not the bot's")
        self._callback_seq += 1
        query: dict[str, Any] = {
            "id": str(bot_id * 1_000_003 + self._callback_seq),
            "from": self._user(user_id, first_name, language_code),
            "chat_instance": str(-(zlib.crc32(f"{bot_id}:{user_id}".encode()) << 20)),
            "data": data,
        }
        if target is not None:
            query["message"] = copy.deepcopy(target)
        elif message_id is not None:  # deleted or never sent: an InaccessibleMessage
            query["message"] = {
                "chat": chat_shape(user_id, first_name),
                "message_id": message_id,
                "date": 0,
            }
        return query

    # -- internals --------------------------------------------------------------------------

    def _user(self, user_id: int, first_name: str, language_code: str) -> dict[str, Any]:
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        if language_code:
            user["language_code"] = language_code
        self._users[user_id] = user
        return dict(user)

    def _add(self, chat_id: int, message: dict[str, Any]) -> dict[str, Any]:
        message_id = self._last_id.get(chat_id, 0) + 1
        self._last_id[chat_id] = message_id
        stored = {"message_id": message_id, **message}
        self._chats.setdefault(chat_id, {})[message_id] = stored
        return stored

    def _editable(self, params: dict[str, Any]) -> dict[str, Any]:
        message_id = params.get("message_id")
        if not isinstance(message_id, int):
            raise ApiError(400, "Bad Request: message identifier is not specified")
        message = self._chats.get(chat_id_param(params), {}).get(message_id)
        if message is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        if message["from"]["id"] != self._bot_user()["id"]:
            raise ApiError(400, "Bad Request: message can't be edited")
        return message

    def _edited(self, message: dict[str, Any], markup: dict[str, Any] | None) -> dict[str, Any]:
        # Like the real API, an edit without reply_markup removes the inline keyboard.
        message.pop("reply_markup", None)
        if markup is not None:
            message["reply_markup"] = markup
        message["edit_date"] = self._now()
        return copy.deepcopy(message)
