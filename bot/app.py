"""The composition root: builds the record, handlers, channels, outbox and scheduler."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime

from bot.channels.base import RateLimits
from bot.channels.slack import SlackChannel
from bot.channels.slack_render import mrkdwn
from bot.channels.sms import SmsChannel
from bot.channels.starting import ChannelStarter
from bot.channels.telegram import TelegramChannel
from bot.config import ConfigError, Settings
from bot.i18n import BabelTranslator
from bot.logs import quiet_libraries
from bot.metrics import Metrics
from bot.outbox import Outbox
from bot.practice import sync_practice
from handlers.core.desk import StaffDesk
from handlers.core.events import DeliveryReport, Inbound
from handlers.core.pipeline import Outcome, Pipeline
from handlers.core.router import Router
from handlers.family import (
    answers,
    attachments,
    commands,
    escalations,
    keywords,
    numbered,
    onboarding,
)
from handlers.family.onboarding import create_invite
from handlers.reminders.dispatcher import ReminderDispatcher
from handlers.staff import delivery, escalation_desk, handoffs, schedule, updates
from handlers.staff.watch import StaffWatch
from storage.clock import Clock
from storage.db import Database
from storage.models import Practice
from storage.record import Record

log = logging.getLogger(__name__)

#: On stop, how long the outbox may take to record the chunk in flight.
DRAIN_SECONDS = 10.0


def build_router() -> Router:
    """Every handler module's router, in order: the emergency net first, then onboarding's text
    handler, and escalation to a person last, for whatever nothing else understood."""
    router = Router()
    router.include(keywords.router)
    router.include(escalations.urgent_router)
    router.include(attachments.router)
    for module in (
        onboarding,
        answers,
        commands,
        numbered,
        escalations,
        escalation_desk,
        updates,
        handoffs,
    ):
        router.include(module.router)
    router.include(schedule.router)
    return router


def staff_desk(settings: Settings, telegram_bot: Callable[[], str | None]) -> StaffDesk:
    """The staff side as configured (Slack's coordinators' channel, on call, privacy, times,
    Slack's renderer); ``telegram_bot`` says the Telegram bot's username when it is known."""
    return StaffDesk(
        channel="slack",
        escalation_conversation=settings.slack.escalation_channel,
        on_call=settings.slack.on_call_staff_id,
        privacy=settings.slack.privacy,
        language=settings.slack.language,
        response_minutes=settings.practice.escalation_response_minutes,
        handoff_ack_business_days=settings.practice.handoff_ack_business_days,
        telegram_bot=telegram_bot,
        invite_valid_days=settings.invite_valid_days,
        render=mrkdwn,
    )


#: Channels without buttons (their capabilities say so): buttons become numbered replies.
NUMBERED_CHANNELS = frozenset(
    name
    for name, capabilities in (("sms", SmsChannel.capabilities),)
    if not capabilities.supports_buttons
)


class CareBot:
    """One running carebot: everything wired, started and stopped together."""

    def __init__(self, settings: Settings, db: Database, clock: Clock) -> None:
        self.settings = settings
        self.db = db
        self.clock = clock
        quiet_libraries()
        self.translator = BabelTranslator()
        self.metrics = Metrics()
        self.telegram: TelegramChannel | None = None
        self.slack: SlackChannel | None = None
        self.sms: SmsChannel | None = None
        self.desk = staff_desk(settings, self._telegram_bot)
        self.outbox = Outbox(
            db,
            clock,
            {},
            in_flight=settings.outbox.in_flight,
            on_failed=self._tell_authors,
            metrics=self.metrics,
        )
        self.starter = ChannelStarter(self._channel_up)
        self.pipeline = Pipeline(
            db,
            clock,
            self.translator,
            build_router(),
            self.outbox.wake,
            desk=self.desk,
            numbered_channels=NUMBERED_CHANNELS,
        )
        self.reminders = ReminderDispatcher(
            db,
            clock,
            self.translator,
            NUMBERED_CHANNELS,
            weekly_cap=settings.practice.sms_weekly_cap,
            on_backlog=self.metrics.reminder_backlog,
        )
        db.observers.append(self.metrics.writer_transaction.observe)
        self.watch = StaffWatch(db, clock, self.translator, self.desk)
        self.practice: Practice | None = None
        self._tasks: list[asyncio.Task[None]] = []
        if settings.telegram.token is not None:
            self.telegram = TelegramChannel(
                settings.telegram.token.get_secret_value(),
                settings.telegram.api_url,
                self.handle,
                RateLimits(
                    settings.telegram.max_messages_per_second,
                    settings.telegram.per_chat_interval_seconds,
                ),
                on_membership=self.membership_changed,
                on_unusable=self._unusable_update,
            )
            self.outbox.add_adapter(self.telegram)
        slack = settings.slack
        if slack.bot_token is not None:
            self.slack = SlackChannel(
                slack.bot_token.get_secret_value(),
                slack.signing_secret.get_secret_value() if slack.signing_secret else "",
                slack.api_url,
                self.handle,
                RateLimits(slack.max_messages_per_second, 1.0),
                app_token=slack.app_token.get_secret_value() if slack.app_token else None,
            )
            self.outbox.add_adapter(self.slack)
        sms = settings.sms
        if sms.account_sid and sms.auth_token and sms.from_number and settings.public_url:
            self.sms = SmsChannel(
                sms.account_sid,
                sms.auth_token.get_secret_value(),
                sms.from_number,
                sms.api_url,
                settings.public_url,
                self.handle,
                RateLimits(sms.max_messages_per_second, 1.0),
                shared_key=(
                    sms.webhook_shared_key.get_secret_value() if sms.webhook_shared_key else None
                ),
            )
            self.outbox.add_adapter(self.sms)

    async def handle(self, event: Inbound) -> Outcome:
        return await self.pipeline.handle(event)

    async def start(self, *, run_outbox: bool = True) -> None:
        """Sync the practice, start the channels, then the outbox loop.

        A channel whose platform cannot be reached is tried again in the background while the
        others work (``/healthz`` says so); one that refuses its configuration stops start-up.

        Raises:
            StartRefused: a platform refused carebot's credentials or webhook.
        """
        self.practice = await sync_practice(self.db, self.settings, self.clock.now())
        if self.sms is not None:
            await self.starter.start("sms", self.sms.start)
        if self.slack is not None:
            await self.starter.start("slack", self.slack.start)
        if self.telegram is not None:
            await self.starter.start("telegram", self._start_telegram)
        if run_outbox:
            self._tasks.append(asyncio.create_task(self.outbox.run()))

    async def _start_telegram(self) -> None:
        assert self.telegram is not None and self.practice is not None
        await self.telegram.start()
        await self.telegram.register_commands(
            commands.COMMAND_MENU, self.translator, self.practice.timezone
        )
        if self.settings.telegram.mode == "polling":
            self.telegram.start_polling()
        elif self.settings.public_url and self.settings.telegram.webhook_secret:
            await self.telegram.set_webhook(
                self.settings.public_url.rstrip("/") + "/telegram/webhook",
                self.settings.telegram.webhook_secret.get_secret_value(),
            )

    def _channel_up(self, name: str) -> None:
        self.metrics.channel_up.labels(name).set(1)
        self.outbox.wake()

    def channel_health(self) -> dict[str, str]:
        """Each configured channel's state for /healthz: ``started``, or why it is not."""
        health = {}
        for name, channel in (
            ("telegram", self.telegram),
            ("slack", self.slack),
            ("sms", self.sms),
        ):
            if channel is not None:
                health[name] = self.starter.state.get(name, "stopped")
                self.metrics.channel_up.labels(name).set(1 if health[name] == "started" else 0)
        return health

    async def stop(self, drain_seconds: float = DRAIN_SECONDS) -> None:
        """Stop: the outbox finishes the chunk in flight (its outcomes are recorded, for at most
        ``drain_seconds``), then the channels close."""
        await self.starter.stop()
        with contextlib.suppress(ValueError):
            self.db.observers.remove(self.metrics.writer_transaction.observe)
        self.outbox.stop()
        if self._tasks:
            _done, pending = await asyncio.wait(self._tasks, timeout=drain_seconds)
            for task in pending:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            if pending:
                log.warning(
                    "outbox did not drain in %ss; what was in flight is unknown", drain_seconds
                )
        self._tasks.clear()
        if self.telegram is not None:
            await self.telegram.stop()
        if self.slack is not None:
            await self.slack.stop()
        if self.sms is not None:
            await self.sms.stop()

    async def delivery_status(self, report: DeliveryReport) -> None:
        """A provider's delivery report, as the adapter translated it: move the message forward
        (reports come in any order); a recipient who opted out is recorded as opted out."""
        provider_id = report.provider_message_id or ""
        async with self.db.transaction() as conn:
            record = Record(conn)
            address = await record.outbox.report_status(provider_id, report.status, report.error)
            if address is not None and report.opted_out:
                await record.identities.opt_out_address(report.channel, address, self.clock.now())
                log.warning("provider reports message %s: recipient opted out", provider_id)

    async def record_unusable(
        self, channel: str, reason: str, size: int, event_id: str | None = None
    ) -> None:
        """Keep an authentic request carebot could not use (never its body)."""
        async with self.db.transaction() as conn:
            await Record(conn).unusable.record(channel, reason, size, event_id, self.clock.now())
        self.metrics.count_unusable(channel)
        log.warning("%s request unusable (%s), kept as a row", channel, reason)

    async def _unusable_update(self, update_id: str, reason: str, size: int) -> None:
        await self.record_unusable("telegram", reason, size, update_id)

    async def membership_changed(self, address: str, blocked: bool, event_id: str) -> None:
        """A family blocked the bot (nothing more is sent to them; what is queued fails) or
        unblocked it (they can be written to again)."""
        now = self.clock.now()
        channel = address.split(":", 1)[0]
        async with self.db.transaction() as conn:
            record = Record(conn)
            if not await record.messages.claim_event(channel, event_id, now):
                return
            identity = await record.identities.find(channel, address)
            if identity is None:
                return
            if blocked:
                await record.identities.mark_blocked(channel, address, now)
                withdrawn = await record.messages.fail_queued_to(
                    channel, address, "recipient blocked the bot"
                )
                await self._tell_authors(record, withdrawn, now)
            else:
                await record.identities.clear_blocked(identity.id)
            await record.audit.record(
                actor_type="guardian" if identity.guardian_id else "staff",
                actor_id=identity.guardian_id or identity.staff_id or "",
                action="identity.blocked" if blocked else "identity.unblocked",
                entity_type="channel_identity",
                entity_id=str(identity.id),
                now=now,
            )
        log.info("identity %d %s the bot", identity.id, "blocked" if blocked else "unblocked")
        self.outbox.wake()

    async def _tell_authors(self, record: Record, failed: list[int], now: datetime) -> int:
        """Messages a staff member wrote that failed for good: tell them (a direct message)."""
        return await delivery.tell_authors(record, self.desk, failed, now, self.translator)

    async def forget_events_before(self, before: datetime) -> int:
        async with self.db.transaction() as conn:
            return await Record(conn).messages.forget_events_before(before)

    def _telegram_bot(self) -> str | None:
        """The Telegram bot's username: as configured, else as Telegram said at start."""
        if self.settings.telegram.bot_username:
            return self.settings.telegram.bot_username
        telegram = self.telegram
        return telegram.username if telegram is not None and telegram.started else None

    async def create_invite(self, guardian_id: str) -> str:
        """A one-time ``https://t.me/<bot>?start=<token>`` link for a guardian (the command
        line's and the sandbox console's; staff make theirs with ``/carebot invite``)."""
        link_base = self.desk.invite_link_base
        if link_base is None:
            raise ConfigError("CAREBOT_TELEGRAM__BOT_USERNAME: not set and the bot is not running")
        async with self.db.transaction() as conn:
            token = await create_invite(
                Record(conn),
                guardian_id,
                self.clock.now(),
                self.settings.invite_valid_days,
                ("operator", "cli"),
            )
        if token is None:
            raise LookupError(guardian_id)
        return f"{link_base}{token}"
