"""Whether each channel is ready to start, and what it lacks (``carebot check`` and ``run``)."""

from __future__ import annotations

from bot.config import Settings

#: What each channel needs before it is configured at all.
CHANNEL_NEEDS = {
    "telegram": "CAREBOT_TELEGRAM__TOKEN (and CAREBOT_PUBLIC_URL with"
    " CAREBOT_TELEGRAM__WEBHOOK_SECRET, or CAREBOT_TELEGRAM__MODE=polling)",
    "slack": "CAREBOT_SLACK__BOT_TOKEN, CAREBOT_SLACK__SIGNING_SECRET (or CAREBOT_SLACK__APP_TOKEN"
    " for Socket Mode) and CAREBOT_SLACK__ESCALATION_CHANNEL",
    "sms": "CAREBOT_SMS__ACCOUNT_SID, CAREBOT_SMS__AUTH_TOKEN, CAREBOT_SMS__FROM_NUMBER and"
    " CAREBOT_PUBLIC_URL",
}


def channel_states(settings: Settings) -> dict[str, tuple[bool, str]]:
    """Each channel: (ready, what to say of it): ``ready (polling)``, ``missing X, Y`` for one
    configured but incomplete, ``not configured: needs ...`` for one not configured at all."""
    states: dict[str, tuple[bool, str]] = {}
    every_gap = channel_gaps(settings)
    for name, configured, mode in (
        ("telegram", settings.telegram_configured(), settings.telegram.mode),
        ("slack", settings.slack_configured(),
         "socket mode" if settings.slack.app_token else "http"),
        ("sms", settings.sms_configured(), settings.sms.provider),
    ):  # fmt: skip
        gaps = every_gap[name]
        if not configured:
            states[name] = (False, f"not configured: needs {CHANNEL_NEEDS[name]}")
        elif gaps:
            states[name] = (False, f"missing {', '.join(gaps)}")
        else:
            states[name] = (True, f"ready ({mode})")
    return states


def channel_gaps(settings: Settings) -> dict[str, list[str]]:
    """What each configured channel still needs before it can start (none for a channel not
    configured at all)."""
    telegram: list[str] = []
    if settings.telegram_configured() and settings.telegram.mode == "webhook":
        if settings.telegram.webhook_secret is None:
            telegram.append("CAREBOT_TELEGRAM__WEBHOOK_SECRET")
        if settings.public_url is None:
            telegram.append("CAREBOT_PUBLIC_URL")
    sms: list[str] = []
    if settings.sms_configured():
        for value, name in (
            (settings.sms.auth_token, "AUTH_TOKEN"),
            (settings.sms.from_number, "FROM_NUMBER"),
        ):
            if value is None:
                sms.append(f"CAREBOT_SMS__{name}")
        if settings.public_url is None:
            sms.append("CAREBOT_PUBLIC_URL")
    slack: list[str] = []
    if settings.slack_configured():
        if settings.slack.signing_secret is None and settings.slack.app_token is None:
            slack.append("CAREBOT_SLACK__SIGNING_SECRET")
        if settings.slack.escalation_channel is None:
            slack.append("CAREBOT_SLACK__ESCALATION_CHANNEL")
    return {"telegram": telegram, "slack": slack, "sms": sms}


def missing_for_run(settings: Settings) -> list[str]:
    """Settings a configured channel still needs before it can start (each named once)."""
    gaps = channel_gaps(settings)
    return list(dict.fromkeys(gaps["telegram"] + gaps["sms"] + gaps["slack"]))
