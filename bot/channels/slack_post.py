"""Posting one staff message to Slack, and what Slack's answer means for the outbox."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.channels.base import (
    PermanentFailure,
    RecipientUnreachable,
    RetryLater,
    TemporaryFailure,
    retry_after_seconds,
)
from bot.channels.slack_render import written_blocks
from handlers.core.screens import StaffButton

# A person who left the workspace: stop writing to them. A missing or archived channel is a
# configuration error instead: those fail loudly (logged as errors) without blocking anyone.
UNREACHABLE = {"account_inactive", "user_disabled"}


async def post(
    client: AsyncWebClient,
    target: str,
    text: str,
    buttons: tuple[StaffButton, ...],
    thread: str | None,
) -> str:
    """``chat.postMessage`` (in ``thread``, if given); returns the post's ``ts``.

    Raises:
        RetryLater: 429 (``Retry-After`` seconds). TemporaryFailure: a 5xx or the network.
        RecipientUnreachable: the person left the workspace. PermanentFailure: anything else.
    """
    blocks = written_blocks(text, buttons)  # the body was written as mrkdwn when queued
    async with _translated_errors():
        response = await client.chat_postMessage(
            channel=target,
            text=text,
            blocks=blocks,
            thread_ts=thread,
            unfurl_links=False,
            unfurl_media=False,
        )
    return str(response["ts"])


async def update(
    client: AsyncWebClient, target: str, ts: str, text: str, buttons: tuple[StaffButton, ...]
) -> str:
    """``chat.update`` of the post ``ts``: its new text and buttons (none: no buttons left).

    Raises: as :func:`post` (a post that is gone: PermanentFailure ``message_not_found``).
    """
    async with _translated_errors():
        await client.chat_update(
            channel=target, ts=ts, text=text, blocks=written_blocks(text, buttons)
        )
    return ts


@asynccontextmanager
async def _translated_errors() -> AsyncIterator[None]:
    """Slack's answers as the outbox's errors."""
    try:
        yield
    except SlackApiError as error:
        code = str(error.response.get("error", ""))
        if error.response.status_code == 429 or code == "ratelimited":
            retry_after = retry_after_seconds(error.response.headers.get("Retry-After"))
            raise RetryLater(retry_after) from error
        if error.response.status_code >= 500:
            raise TemporaryFailure(code or str(error.response.status_code)) from error
        if code in UNREACHABLE:
            raise RecipientUnreachable(code) from error
        raise PermanentFailure(code) from error
    except (aiohttp.ClientError, TimeoutError) as error:
        raise TemporaryFailure(type(error).__name__) from error
