"""The people in the sandbox: a family's phone and a staff member's Slack, acting as the
platforms would.

A parent's Telegram message becomes an update queued on the Telegram emulator (the bot polls
for it, as in production); a parent's text message becomes a Twilio-signed webhook POST to the
bot; a staff member's slash command, button press, form or thread reply becomes a Slack-signed
request to ``/slack/events``. Nothing here calls the bot's code directly.
"""

from __future__ import annotations

import itertools
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from bot.sandbox import slack_signing
from bot.sandbox.emulators import PRACTICE_NUMBER, Emulators
from bot.sandbox.fake_twilio import SentSms, signed_form
from bot.sandbox.tg_chats import callback_datas
from bot.sandbox.twilio_forms import inbound_form, status_form


class ActionFailed(Exception):
    """The bot refused or failed a request the console made for a person (the text says why)."""


def telegram_user_id(guardian_id: str) -> int:
    """A guardian's Telegram user id in the sandbox: stable across restarts, so a linked
    family stays linked."""
    return 5_000_000_000 + zlib.crc32(guardian_id.encode())


@dataclass
class SmsLine:
    """One text on a phone: ``inbound`` is from the parent to the practice."""

    number: str
    body: str
    inbound: bool
    sid: str = ""
    #: When it was sent, by the sandbox's clock.
    at: datetime | None = None


@dataclass
class FamilyPhones:
    """Every demo family's phone: Telegram through the emulator, SMS through the bot's webhook."""

    fakes: Emulators
    http: httpx.AsyncClient
    public_url: str
    texts: list[SmsLine] = field(default_factory=list)
    _outbound_seen: int = 0
    _sids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        self.fakes.twilio.listeners.insert(0, self._collect_outbound)
        self.fakes.twilio.report_delivery = self._report_delivered

    def _collect_outbound(self) -> None:
        for sent in self.fakes.twilio.sent[self._outbound_seen :]:
            self.texts.append(
                SmsLine(sent.to, sent.body, inbound=False, sid=sent.sid, at=sent.created_at)
            )
        self._outbound_seen = len(self.fakes.twilio.sent)

    def status(self, sid: str) -> str:
        """What Twilio last said about an outbound text (queued, delivered)."""
        return next((m.status for m in self.fakes.twilio.sent if m.sid == sid), "")

    async def _post_signed(self, url: str, params: dict[str, str]) -> int:
        """A form POST to the bot, signed as Twilio signs it; returns the HTTP status."""
        body, headers = signed_form(self.fakes.twilio.auth_token, url, params)
        response = await self.http.post(url, content=body, headers=headers)
        return response.status_code

    async def _report_delivered(self, sent: SentSms) -> bool:
        """The handset got it: Twilio's signed status callback, to the URL the bot gave."""
        assert sent.status_callback, "the fake reports only texts that asked for it"
        params = status_form(
            account_sid=self.fakes.twilio.account_sid,
            message_sid=sent.sid,
            from_=sent.from_,
            to=sent.to,
            status="delivered",
        )
        try:
            return await self._post_signed(sent.status_callback, params) == 200
        except httpx.HTTPError:
            return False  # the sandbox is stopping; Twilio, too, gives up on a dead callback

    # -- Telegram ---------------------------------------------------------------------------

    def telegram_chat(self, guardian_id: str) -> list[dict[str, Any]]:
        """Both sides of the guardian's chat with the bot, edits applied, oldest first."""
        return self.fakes.telegram.conversation(telegram_user_id(guardian_id))

    def telegram_send(self, guardian_id: str, first_name: str, language: str, text: str) -> None:
        update = self.fakes.telegram.message_update(
            telegram_user_id(guardian_id), text, first_name=first_name, language_code=language
        )
        self.fakes.telegram.push_update(update)

    def telegram_press(
        self, guardian_id: str, first_name: str, language: str, message_id: int, data: str
    ) -> None:
        user = telegram_user_id(guardian_id)
        sent = {m["message_id"]: m for m in self.fakes.telegram.transcript(user)}
        if data not in callback_datas(sent.get(message_id, {})):
            raise ActionFailed("that button is no longer on the message")
        update = self.fakes.telegram.callback_update(
            user, data, message_id=message_id, first_name=first_name, language_code=language
        )
        self.fakes.telegram.push_update(update)

    # -- SMS --------------------------------------------------------------------------------

    def sms_thread(self, number: str) -> list[SmsLine]:
        return [line for line in self.texts if line.number == number]

    async def sms_send(self, number: str, body: str) -> None:
        """Text the practice from ``number``, as Twilio delivers it: a signed form POST."""
        if not body.strip():
            raise ActionFailed("an empty text is not sent")
        params = inbound_form(
            account_sid=self.fakes.twilio.account_sid,
            from_=number,
            to=PRACTICE_NUMBER,
            body=body,
            message_sid=f"SMsandbox{next(self._sids):08d}{zlib.crc32(number.encode()):08x}",
        )
        self.texts.append(SmsLine(number, body, inbound=True, at=self.fakes.twilio.now()))
        status = await self._post_signed(self.public_url.rstrip("/") + "/sms/twilio", params)
        if status != 200:
            raise ActionFailed(f"the bot answered the text with HTTP {status}")


@dataclass
class SlackUsers:
    """Staff in the emulated workspace: what their Slack client sends the bot when they act."""

    fakes: Emulators
    http: httpx.AsyncClient
    events_url: str
    _triggers: dict[str, str] = field(default_factory=dict)
    _closed: set[str] = field(default_factory=set)
    _count: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def _trigger(self, user: str) -> str:
        trigger = slack_signing.trigger()
        self._triggers[trigger] = user
        return trigger

    def _response_url(self, user: str) -> str:
        return self.fakes.slack.response_url(f"{user}-{next(self._count)}")

    async def _post(self, built: tuple[bytes, dict[str, str]]) -> httpx.Response:
        body, headers = built
        response = await self.http.post(self.events_url, content=body, headers=headers)
        if response.status_code != 200:
            raise ActionFailed(f"the bot answered Slack with HTTP {response.status_code}")
        return response

    @property
    def _secret(self) -> str:
        return self.fakes.slack_signing_secret

    @property
    def _team(self) -> str:
        return self.fakes.slack.team_id

    async def command(self, user: str, text: str) -> None:
        """``/carebot <text>`` typed by ``user``."""
        await self._post(
            slack_signing.slash_command(
                self._secret,
                team_id=self._team,
                user_id=user,
                text=text.strip(),
                response_url=self._response_url(user),
                trigger_id=self._trigger(user),
            )
        )

    async def press(
        self, user: str, action_id: str, value: str, channel: str | None, ts: str | None
    ) -> None:
        """A button on a message (``channel``/``ts``) or in a private note (no channel)."""
        await self._post(
            slack_signing.block_action(
                self._secret,
                team_id=self._team,
                user_id=user,
                action_id=action_id,
                value=value,
                channel_id=channel,
                message_ts=ts,
                response_url=self._response_url(user),
                trigger_id=self._trigger(user),
            )
        )

    async def reply(self, user: str, channel: str, thread_ts: str, text: str) -> None:
        """A reply in a thread: shown in the workspace, and sent to the bot as a message event."""
        if not text.strip():
            raise ActionFailed("an empty reply is not sent")
        self.fakes.slack.post_as_user(channel, user, text, thread_ts)
        await self._post(
            slack_signing.message_event(
                self._secret,
                team_id=self._team,
                user_id=user,
                channel=channel,
                text=text,
                thread_ts=thread_ts,
            )
        )

    async def open_home(self, user: str) -> None:
        await self._post(
            slack_signing.app_home_opened(self._secret, team_id=self._team, user_id=user)
        )

    def open_view(self, user: str) -> dict[str, Any] | None:
        """The modal ``user`` has open (the newest one not submitted or closed), if any."""
        for view in reversed(self.fakes.slack.views_opened):
            trigger = self.fakes.slack.view_triggers.get(view["id"], "")
            if self._triggers.get(trigger) == user:
                return None if view["id"] in self._closed else view
        return None

    def close_view(self, user: str, view_id: str) -> None:
        self._closed.add(view_id)

    async def submit(self, user: str, view_id: str, values: dict[str, Any]) -> dict[str, str]:
        """Submit ``user``'s open modal; returns the bot's errors by field (empty: accepted)."""
        view = self.open_view(user)
        if view is None or view["id"] != view_id:
            raise ActionFailed("that form is no longer open")
        response = await self._post(
            slack_signing.view_submission(
                self._secret, team_id=self._team, user_id=user, view=view, values=values
            )
        )
        answer = response.json() if response.content else {}
        if answer.get("response_action") == "errors":
            return {str(k): str(v) for k, v in answer.get("errors", {}).items()}
        self._closed.add(view_id)
        return {}
