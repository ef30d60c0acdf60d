"""The form parameters Twilio really posts: an inbound message, and a status callback.

For the fake Twilio, the sandbox and the tests, in place of hand-written six-field dicts. Real
posts carry every parameter, blank ones included (``FromCity=``, ``ToZip=``), and Twilio signs
them all; a form missing a blank parameter hides a parser that drops blanks and so fails every
real signature. The shapes, and the order Twilio sends the parameters in, come from:

* Twilio's "Twilio's request to your incoming message Webhook URL"
  (twilio.com/docs/messaging/guides/webhook-request), and published captures: a US SMS with
  ``ReferralNumMedia`` (nyaruka/courier ``handlers/twiml`` tests), a Dutch SMS with six
  geographic parameters blank (the nuntius gem's ``TwilioInboundSmsesController``), a picture MMS
  with ``Body=`` blank and ``MediaContentType0`` second, ``MediaUrl0`` just before
  ``ApiVersion``;
* "Track the Message Status of Outbound Messages"
  (twilio.com/docs/messaging/guides/track-outbound-message-status): a subset of the request
  properties plus ``MessageStatus`` and ``ErrorCode``; ``RawDlrDoneDate`` (``YYMMDDhhmm``) on
  most delivered and undelivered SMS; captures with ``RawDlrDoneDate`` first and
  ``MessagingServiceSid`` after ``To`` (notification-api, nyaruka/courier).

``tests/fixtures/twilio/`` holds the same shapes as recorded files (this module does not read
them; ``bot/`` does not import ``tests/``), and a test checks the two agree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from bot.channels.sms import segments

API_VERSION = "2010-04-01"

GEO_FIELDS = (
    "ToCountry",
    "ToState",
    "ToCity",
    "ToZip",
    "FromCountry",
    "FromState",
    "FromCity",
    "FromZip",
)
# A US long code, as Twilio geolocates it: some parameters filled, others blank.
US_GEO: Mapping[str, str] = {
    "ToCountry": "US",
    "ToState": "OR",
    "ToCity": "PORTLAND",
    "ToZip": "",
    "FromCountry": "US",
    "FromState": "OR",
    "FromCity": "",
    "FromZip": "",
}
# A Dutch number: only the countries are known, the six other parameters come blank.
NL_GEO: Mapping[str, str] = {
    **{name: "" for name in GEO_FIELDS},
    "ToCountry": "NL",
    "FromCountry": "NL",
}

STATUSES = frozenset(
    {
        "accepted",
        "scheduled",
        "queued",
        "sending",
        "sent",
        "delivered",
        "undelivered",
        "failed",
        "read",
        "canceled",
        "partially_delivered",
    }
)
DLR_STATUSES = frozenset({"delivered", "undelivered"})  # those that carry RawDlrDoneDate


def inbound_form(
    *,
    account_sid: str,
    from_: str,
    to: str,
    body: str,
    message_sid: str,
    media: Sequence[tuple[str, str] | str] = (),
    extra: Mapping[str, str] | None = None,
    messaging_service_sid: str | None = None,
    geo: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Every parameter of Twilio's POST of an inbound SMS or MMS, in Twilio's order.

    ``media`` is ``(url, content_type)`` pairs (a bare URL is an ``image/jpeg``); with media,
    ``body`` may be ``""``, as Twilio sends a picture-only MMS. ``MessagingServiceSid`` is sent
    only when the number belongs to a Messaging Service (it is absent, not blank, otherwise).
    ``geo`` overrides :data:`US_GEO` (see :data:`NL_GEO`). ``extra`` parameters (``OptOutType``
    from Advanced Opt-Out, ``AddOns``, ones Twilio adds without notice) come last.
    """
    places = {**US_GEO, **(geo or {})}
    if unknown := set(places) - set(GEO_FIELDS):
        raise ValueError(f"not geographic parameters: {sorted(unknown)}")
    items = [(m, "image/jpeg") if isinstance(m, str) else m for m in media]
    form: dict[str, str] = {"ToCountry": places["ToCountry"]}
    for i, (_, content_type) in enumerate(items):
        form[f"MediaContentType{i}"] = content_type
    form |= {
        "ToState": places["ToState"],
        "SmsMessageSid": message_sid,
        "NumMedia": str(len(items)),
        "ToCity": places["ToCity"],
        "FromZip": places["FromZip"],
        "SmsSid": message_sid,
        "FromState": places["FromState"],
        "SmsStatus": "received",
        "FromCity": places["FromCity"],
        "Body": body,
        "FromCountry": places["FromCountry"],
        "To": to,
    }
    if messaging_service_sid is not None:
        form["MessagingServiceSid"] = messaging_service_sid
    form |= {
        "ToZip": places["ToZip"],
        "NumSegments": "1" if items or not body else str(segments(body)[0]),
        "ReferralNumMedia": "0",
        "MessageSid": message_sid,
        "AccountSid": account_sid,
        "From": from_,
    }
    for i, (url, _) in enumerate(items):
        form[f"MediaUrl{i}"] = url
    form["ApiVersion"] = API_VERSION
    form |= dict(extra or {})
    return form


def status_form(
    *,
    account_sid: str,
    message_sid: str,
    from_: str,
    to: str,
    status: str,
    error_code: int | str | None = None,
    messaging_service_sid: str | None = None,
    raw_dlr_done_date: str | None = None,
) -> dict[str, str]:
    """Every parameter of Twilio's status callback for an outbound SMS, in Twilio's order.

    ``ErrorCode`` comes with a failure (``failed``/``undelivered``: 21610 opted out, 30003
    unreachable handset...); Twilio documents no ``ErrorMessage`` here. ``RawDlrDoneDate``
    (the carrier's receipt time, ``YYMMDDhhmm``, no time zone) comes with ``delivered`` and
    ``undelivered``: ``raw_dlr_done_date`` or the current UTC minute.
    """
    if status not in STATUSES:
        raise ValueError(f"Twilio sends no message status {status!r}")
    form: dict[str, str] = {}
    if error_code is not None:
        form["ErrorCode"] = str(error_code)
    if status in DLR_STATUSES:
        form["RawDlrDoneDate"] = raw_dlr_done_date or datetime.now(UTC).strftime("%y%m%d%H%M")
    form |= {"SmsSid": message_sid, "SmsStatus": status, "MessageStatus": status, "To": to}
    if messaging_service_sid is not None:
        form["MessagingServiceSid"] = messaging_service_sid
    form |= {
        "MessageSid": message_sid,
        "AccountSid": account_sid,
        "From": from_,
        "ApiVersion": API_VERSION,
    }
    return form
