"""The Slack adapter: staff events in through slack-bolt, staff messages out through slack_sdk.

Requests arrive on ``POST /slack/events`` (Bolt checks each signature and refuses timestamps
older than five minutes) or over Socket Mode. Every listener acknowledges first and works after,
except a form submission, which needs its validation errors in the acknowledgement (the pipeline
takes milliseconds). Retried deliveries (``X-Slack-Retry-Num``) carry the same event id, which
the pipeline has already claimed: they do nothing.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.channels.base import (
    Capabilities,
    RateLimits,
    Sent,
    UnusableInput,
    send_parts,
)
from bot.channels.parts import fits_characters
from bot.channels.slack_post import post, update
from bot.channels.slack_render import (
    modal,
    mrkdwn,
    plain_text,
    section_blocks,
    stored_buttons,
    submitted_fields,
)
from bot.channels.slack_requests import (
    NotAuthentic,
    acknowledge,
    bolt_logger,
    ignore,
    no_options,
    shape_checked,
    signed_by_slack,
)
from bot.channels.starting import StartRefused
from handlers.core.events import (
    FormSubmitted,
    HomeOpened,
    Inbound,
    StaffAction,
    StaffCommand,
    ThreadReply,
)
from handlers.core.pipeline import Outcome
from handlers.core.screens import Section
from storage.models import OutboundMessage

log = logging.getLogger(__name__)

CHANNEL = "slack"
FAILED_NOTE = (
    "Sorry, carebot couldn't handle that just now (nothing was sent). Please try again in a"
    " minute; if it keeps happening, tell your admin."
)

#: Message subtypes that are still a person writing: a thread reply also sent to the channel
#: ("Also send to #channel"). Every other subtype (edits, deletions, joins) is not.
WRITTEN_SUBTYPES = frozenset({"thread_broadcast"})

#: Slack truncates a message's text at 40,000 characters; a longer one goes out in parts.
MAX_LENGTH = 39_000

Handle = Callable[[Inbound], Awaitable[Outcome]]


class SlackChannel:
    """Receives staff events (HTTP or Socket Mode) and posts staff messages."""

    name = CHANNEL
    capabilities = Capabilities(
        supports_buttons=True,
        supports_threads=True,
        max_length=MAX_LENGTH,
        length_unit="characters",
        fits=fits_characters(MAX_LENGTH),
    )

    def __init__(
        self,
        bot_token: str,
        signing_secret: str,
        api_url: str,
        handle: Handle,
        limits: RateLimits | None = None,
        app_token: str | None = None,
    ) -> None:
        self._token = bot_token
        self._signing_secret = signing_secret
        self._api_url = api_url.rstrip("/") + "/"
        self._handle = handle
        self.limits = limits or RateLimits(max_per_second=10, per_address_interval=1.0)
        self._session: aiohttp.ClientSession | None = None
        self.client: AsyncWebClient | None = None
        self.app: AsyncApp | None = None
        self.team_id: str | None = None
        self.started = False
        self._app_token = app_token
        self._socket: AsyncSocketModeHandler | None = None
        self._secret = signing_secret.encode() if signing_secret.strip() else None

    async def start(self) -> None:
        """One shared HTTP session for every API call; learn the workspace (``auth.test``).

        Raises:
            StartRefused: Slack refused the token.
            aiohttp.ClientError: Slack could not be reached (the caller tries again later).
        """
        self._session = aiohttp.ClientSession()
        try:
            self.client = AsyncWebClient(
                token=self._token, base_url=self._api_url, session=self._session
            )
            try:
                auth = await self.client.auth_test()
            except SlackApiError as error:
                code = str(error.response.get("error", ""))
                if error.response.status_code < 500 and code != "ratelimited":
                    raise StartRefused(
                        f"CAREBOT_SLACK__BOT_TOKEN: Slack refused the token ({code})"
                    ) from None
                raise
            self.team_id = str(auth["team_id"])
            self.app = AsyncApp(
                client=self.client,
                signing_secret=self._signing_secret,
                logger=bolt_logger(),
            )
            self._register(self.app)
            if self._app_token:
                # Socket Mode: Slack pushes the same requests over a websocket we open.
                self._socket = AsyncSocketModeHandler(self.app, self._app_token)
                await self._socket.connect_async()  # type: ignore[no-untyped-call]
        except BaseException:
            await self.stop()
            raise
        self.started = True

    async def stop(self) -> None:
        if self._socket is not None:
            await self._socket.close_async()  # type: ignore[no-untyped-call]
            self._socket = None
        if self._session is not None:
            await self._session.close()
            self._session = None
        self.started = False

    def authentic(self, body: bytes, headers: Mapping[str, str]) -> bool:
        """Whether Slack signed these raw bytes less than five minutes ago."""
        return signed_by_slack(self._secret, body, headers)

    async def dispatch(
        self, body: bytes, headers: Mapping[str, str]
    ) -> tuple[int, bytes, dict[str, str]]:
        """Run one signed HTTP request through Bolt; returns status, body and headers.

        Raises:
            NotAuthentic: not signed by Slack, or signed too long ago.
            UnusableInput: signed, but not something Bolt can read (the caller records it and
                answers 200, so Slack does not retry it).
        """
        assert self.app is not None
        if not self.authentic(body, headers):
            raise NotAuthentic()
        try:
            request = AsyncBoltRequest(body=body.decode("utf-8"), headers=dict(headers))
        except Exception as error:  # noqa: BLE001 - any body Bolt cannot parse is unusable
            raise UnusableInput(f"unreadable body ({type(error).__name__})") from None
        response = await self.app.async_dispatch(request)
        if response.status == 404:
            # A kind of request carebot has no listener for: answered, so Slack stops sending.
            log.info("slack request of a kind carebot does not handle; answered 200")
            return 200, b"", {}
        if response.status >= 500:
            raise UnusableInput("bolt could not handle the request")
        return response.status, response.body.encode(), response.first_headers_without_set_cookie()

    # --- inbound -------------------------------------------------------------------------

    def _address(self, team_id: str | None, user_id: str) -> str:
        return f"{CHANNEL}:{team_id or self.team_id}/{user_id}"

    def _register(self, app: AsyncApp) -> None:
        app.command(re.compile(r"^/carebot"))(shape_checked(self._on_command))
        app.action(re.compile(r".*"))(shape_checked(self._on_action))
        app.view_submission(re.compile(r".*"))(shape_checked(self._on_view))
        app.event("app_home_opened")(self._on_home)
        app.event("message")(self._on_message)
        # Whatever else Slack sends (another command, a view closed, an options load, a
        # shortcut, an event type carebot has no use for) is acknowledged and ignored.
        app.command(re.compile(r".*"))(acknowledge)
        app.view_closed(re.compile(r".*"))(acknowledge)
        app.options(re.compile(r".*"))(no_options)
        app.shortcut(re.compile(r".*"))(acknowledge)
        app.event(re.compile(r".*"))(ignore)

    async def _on_command(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        user = body["user_id"]
        event = StaffCommand(
            channel=CHANNEL,
            address=self._address(body.get("team_id"), user),
            event_id=f"command:{body.get('trigger_id') or body.get('response_url')}",
            text=f"/carebot {plain_text(body.get('text') or '')}".strip(),
            conversation=body.get("channel_id"),
        )
        respond = body.get("response_url") or None
        outcome = await self._run(event, user, respond)
        if outcome is None:
            return
        await self._show(outcome, user, respond)
        if outcome.form is not None and body.get("trigger_id"):
            await self._open(body["trigger_id"], outcome)

    async def _on_action(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        user = body["user"]["id"]
        for action in body.get("actions", []):
            event = StaffAction(
                channel=CHANNEL,
                address=self._address((body.get("team") or {}).get("id"), user),
                event_id=f"action:{body.get('trigger_id')}:{action.get('action_ts')}",
                action=str(action.get("action_id") or ""),
                value=str(action.get("value") or ""),
                conversation=(body.get("channel") or {}).get("id"),
            )
            respond = body.get("response_url") or None
            outcome = await self._run(event, user, respond)
            if outcome is None:
                continue
            await self._show(outcome, user, respond)
            if outcome.form is not None:
                await self._open(body["trigger_id"], outcome)
            if (body.get("view") or {}).get("type") == "home":
                await self._refresh_home(body)

    async def _on_view(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        view = body["view"]
        user = body["user"]["id"]
        event = FormSubmitted(
            channel=CHANNEL,
            address=self._address((body.get("team") or {}).get("id"), user),
            event_id=f"view:{view.get('id')}:{view.get('hash')}",
            form=str(view.get("callback_id") or ""),
            value=view.get("private_metadata") or "",
            fields=submitted_fields(view),
        )
        try:
            outcome = await self._handle(event)
        except Exception:  # noqa: BLE001 - say so in the form rather than lose it silently
            log.exception("slack form %s failed", event.form)
            first = next(iter(event.fields), "")
            await ack(response_action="errors", errors={first: FAILED_NOTE})
            return
        if outcome.form_errors:
            await ack(response_action="errors", errors=outcome.form_errors)
            return
        await ack()
        await self._show(outcome, user, None)

    async def _on_home(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        if event.get("tab") not in (None, "home"):
            return
        await self._refresh_home(body)

    async def _refresh_home(self, body: dict[str, Any]) -> None:
        user = (body.get("event") or {}).get("user") or (body.get("user") or {}).get("id")
        team = body.get("team_id") or (body.get("team") or {}).get("id")
        if not isinstance(user, str) or not user:
            return  # a home event names its user; one without is none of ours
        event = HomeOpened(
            channel=CHANNEL,
            address=self._address(team, user),
            event_id=f"home:{body.get('event_id') or body.get('trigger_id')}",
        )
        outcome = await self._run(event, user, None)
        if outcome is None or outcome.home is None:
            if outcome is not None:
                await self._show(outcome, user, None)
            return
        assert self.client is not None
        await self.client.views_publish(
            user_id=user, view={"type": "home", "blocks": section_blocks(outcome.home)}
        )

    async def _on_message(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        if event.get("bot_id") or not event.get("user"):
            return  # our own posts: not a person writing to us
        subtype = event.get("subtype")
        if subtype not in (None, "file_share", *WRITTEN_SUBTYPES):
            return  # edits, deletions, joins: not a message written to us
        thread = event.get("thread_ts")
        if thread == event.get("ts"):
            thread = None
        if thread is None and event.get("channel_type") != "im":
            return  # chatter in a channel, not in a thread: none of ours
        user = event["user"]
        address = self._address(body.get("team_id"), user)
        event_id = str(body.get("event_id") or f"{event.get('channel')}:{event.get('ts')}")
        text = plain_text(event.get("text") or "")
        inbound: StaffCommand | ThreadReply
        if thread is None:  # written to the bot directly: the words of a command
            inbound = StaffCommand(
                channel=CHANNEL,
                address=address,
                event_id=event_id,
                text=text,
                conversation=event.get("channel"),
                provider_message_id=event.get("ts"),
            )
        else:
            inbound = ThreadReply(
                channel=CHANNEL,
                address=address,
                event_id=event_id,
                text=text,
                conversation=event.get("channel"),
                thread=thread,
                provider_message_id=event.get("ts"),
                attachment="file" if subtype == "file_share" or event.get("files") else None,
            )
        outcome = await self._run(inbound, user, None, conversation=event.get("channel"))
        if outcome is not None:
            await self._show(outcome, user, None, conversation=event.get("channel"))

    async def _run(
        self,
        event: Inbound,
        user: str,
        respond: str | None,
        conversation: str | None = None,
    ) -> Outcome | None:
        """The pipeline; on failure the staff member is told (the request is already acked)."""
        try:
            outcome = await self._handle(event)
        except Exception:  # noqa: BLE001
            log.exception("slack event %s failed", event.event_id)
            await self._show(
                Outcome(shown=[Section(FAILED_NOTE)]), user, respond, conversation=conversation
            )
            return None
        return None if outcome.duplicate else outcome

    # --- showing and sending ------------------------------------------------------------

    async def _show(
        self,
        outcome: Outcome,
        user: str,
        respond: str | None,
        conversation: str | None = None,
    ) -> None:
        """Notes for the one staff member: as a reply only they see, else a direct message."""
        if not outcome.shown:
            return
        blocks = section_blocks(outcome.shown)
        text = mrkdwn(outcome.shown[0].text)[:3000]
        assert self.client is not None
        try:
            if respond is not None:
                # The request's response_url, on the shared session (Bolt's respond() would open
                # a new HTTP session for every answer).
                assert self._session is not None
                async with self._session.post(
                    respond,
                    json={"text": text, "blocks": blocks, "response_type": "ephemeral"},
                    timeout=aiohttp.ClientTimeout(total=10),
                ) as answer:
                    if answer.status >= 400:
                        log.warning("response_url answered %d", answer.status)
            elif conversation is not None:
                await self.client.chat_postEphemeral(
                    channel=conversation, user=user, text=text, blocks=blocks
                )
            else:
                await self.client.chat_postMessage(channel=user, text=text, blocks=blocks)
        except (SlackApiError, aiohttp.ClientError) as error:
            log.warning("could not show a note to a staff member: %s", type(error).__name__)

    async def _open(self, trigger_id: str, outcome: Outcome) -> None:
        assert self.client is not None and outcome.form is not None
        try:
            await self.client.views_open(trigger_id=trigger_id, view=modal(outcome.form))
        except SlackApiError as error:
            log.warning("views.open failed: %s", error.response.get("error"))

    async def send(self, message: OutboundMessage) -> Sent:
        """Post a staff message (in its thread, if it has one; or, for a change of a post, update
        that post in place); its ``ts`` is the provider id."""
        assert self.client is not None
        client = self.client
        target = message.address.split(":", 1)[1]
        buttons = stored_buttons(message.buttons)

        if message.edits_provider_id is not None:  # a change of a post sent before
            return Sent(
                await update(client, target, message.edits_provider_id, message.body, buttons)
            )

        async def one(text: str, last: bool) -> str:
            return await post(
                client, target, text, buttons if last else (), message.thread_provider_id
            )

        return await send_parts(message, self.capabilities, one)
