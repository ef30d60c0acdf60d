"""Every endpoint of the live bot, over real HTTP, against arbitrary bytes, sizes, headers and
shapes (hypothesis).

The bot is the production one (tests/live_bot.py: Telegram, Slack and SMS against their fakes,
its Starlette app served by uvicorn). Whatever a request holds:

* it is never answered 5xx (503 is documented for a busy database; nothing here makes it busy);
* no answer carries a traceback;
* a request without the right Telegram secret header, a valid Slack signature or a valid Twilio
  signature writes nothing: no table's row count changes and SQLite's ``data_version`` (which
  moves with any commit by another connection) stays put; it is answered 401, 403 or 413;
* an authentic request is answered 200 whatever it carries (kept as an ``unusable_request`` row
  if carebot cannot use it), or 413 past the size limit;
* afterwards ``/healthz`` still answers 200 with every channel started.

Between requests the bot is let finish what it started (Slack's listeners run after the ack),
so whatever a request writes is counted against it. Generation is derandomized: CI runs the
same examples every time.

Requests are built from the recorded platform payloads in tests/fixtures/ (mutated: fields
replaced, removed, added), from arbitrary JSON, and from arbitrary bytes, up to the body limit
(16 KiB here) and past it, with or without a Content-Length (chunked).
"""

from __future__ import annotations

import itertools
import json
import re
import sqlite3
import string
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from starlette.datastructures import ImmutableMultiDict
from twilio.request_validator import RequestValidator

from bot.sandbox import slack_signing
from bot.sandbox.fake_twilio import twilio_signature
from bot.sandbox.slack_fake import TEAM_ID
from bot.sandbox.twilio_forms import GEO_FIELDS, STATUSES
from tests.fixtures import load as fixtures
from tests.live_bot import (
    GUARDIAN_PHONE,
    MAX_BODY_BYTES,
    PUBLIC,
    SLACK_SIGNING,
    SLACK_USER,
    SMS_FROM,
    TELEGRAM_SECRET,
    TELEGRAM_USER,
    TWILIO_ACCOUNT,
    TWILIO_TOKEN,
    LiveBot,
)

EXAMPLES = 300  # per webhook endpoint
LIGHT_EXAMPLES = 60  # per read-only endpoint (/healthz, /metrics)


def _settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )


# --- the live bot ---------------------------------------------------------------------------


class Live:
    """The live bot, a client for it, and a read-only connection to its record."""

    def __init__(self, bot: LiveBot, client: httpx.Client, record: sqlite3.Connection) -> None:
        self.bot, self.client, self.record = bot, client, record
        self.tables = [
            name
            for (name,) in record.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
                " AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]

    def __repr__(self) -> str:
        return f"Live({self.bot.url})"

    def snapshot(self) -> dict[str, int]:
        """Every table's rows, and SQLite's data_version (it moves with every commit another
        connection makes, so an UPDATE shows too)."""
        (version,) = self.record.execute("PRAGMA data_version").fetchone()
        counts = self.record.execute(
            "SELECT " + ", ".join(f'(SELECT COUNT(*) FROM "{t}")' for t in self.tables)
        ).fetchone()
        return {"data_version": version, **dict(zip(self.tables, counts, strict=True))}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    bot = LiveBot(tmp_path_factory.mktemp("live-bot"))
    bot.start()
    try:
        with (
            httpx.Client(base_url=bot.url, timeout=30) as client,
            closing(bot.connect_record()) as record,
        ):
            live = Live(bot, client, record)
            for documented in (
                "message",
                "inbound_event",
                "unusable_request",
                "channel_identity",
                "escalation",
                "audit_event",
                "reminder",
            ):
                assert documented in live.tables
            yield live
    finally:
        bot.stop()


# --- one request, and the invariants --------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One HTTP request, as drawn; :func:`render` makes the bytes that are sent."""

    method: str
    path: str
    query: str
    headers: tuple[tuple[str, str], ...]
    #: May hold FRESH_ID, FRESH_UPDATE and RESPONSE_URL, filled in when sent.
    body: bytes
    chunked: bool
    #: True: carries a valid secret or signature; False: does not (must write nothing); None:
    #: either (a raw body Twilio's scheme may read as the empty form the signature covers).
    authentic: bool | None
    #: Grow the body to this size with ``filler`` when sent (a space after JSON, "&" after a
    #: form: both add nothing).
    grow_to: int | None = None
    filler: bytes = b" "
    #: Slack or Twilio: how to sign when sent (see :func:`sign_slack`, :func:`sign_twilio`).
    auth: str = ""
    #: Twilio: the form's parameters (the body is their encoding, made when sent).
    form: tuple[tuple[str, str], ...] | None = None


@dataclass(frozen=True)
class Sent:
    """What went over the wire: the headers (signatures included) and the body."""

    headers: tuple[tuple[str, str], ...]
    body: bytes


#: A message id (Twilio MessageSid, Slack event or trigger id) made fresh for every request, so
#: requests are not all dropped as redeliveries; and a Telegram update_id likewise (same sizes).
FRESH_ID = "fresh-id-0000000"
FRESH_UPDATE = 424242424
RESPONSE_URL = "RESPONSE-URL"  # the fake Slack's response_url, filled in when sent
_fresh = itertools.count(1)
_fresh_updates = itertools.count(500_000_000)


def render(call: Call, live: Live) -> Sent:
    """The body with fresh ids and the live response URL, grown, then signed as asked."""
    fresh = f"id{next(_fresh):014d}"
    update = str(next(_fresh_updates))
    form = None
    if call.form is not None:
        form = [(k, v.replace(FRESH_ID, fresh)) for k, v in call.form]
        body = urlencode(form).encode()
    else:
        body = call.body.replace(FRESH_ID.encode(), fresh.encode())
        body = body.replace(str(FRESH_UPDATE).encode(), update.encode())
        body = body.replace(RESPONSE_URL.encode(), f"{live.bot.slack_root}/respond/h".encode())
    body = resized(body, call.filler, call.grow_to)
    headers = call.headers
    if call.path == "/slack/events":
        headers, body = sign_slack(call.auth, headers, body)
    elif form is not None:
        headers = sign_twilio(call, form, headers)
    return Sent(headers, body)


WEBHOOKS = ("/telegram/webhook", "/slack/events", "/sms/twilio", "/sms/twilio/status")
#: What a Python traceback looks like (the first line, or any frame of it).
TRACEBACK = re.compile(r'Traceback \(most recent call last\)|File "[^"\n]+", line \d+')


def exercise(live: Live, call: Call) -> tuple[httpx.Response, Sent]:
    sent = render(call, live)
    before = live.snapshot()
    url = call.path + (f"?{call.query}" if call.query else "")
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in sent.headers]
    if call.chunked:
        pieces = [sent.body[i : i + 4096] for i in range(0, len(sent.body), 4096)]
        content: Any = iter(pieces)
    else:
        content = sent.body
    if call.method in ("GET", "HEAD") and not sent.body and not call.chunked:
        response = live.client.request(call.method, url, headers=headers)
    else:
        response = live.client.request(call.method, url, headers=headers, content=content)
    live.bot.settle()
    after = live.snapshot()

    event(f"authentic={call.authentic} -> {response.status_code}")
    assert response.status_code < 500, (response.status_code, response.text[:200])
    text = response.content.decode("utf-8", "replace")
    assert not TRACEBACK.search(text), text[:500]
    if call.authentic is False:
        changed = {k: (v, after[k]) for k, v in before.items() if after[k] != v}
        assert not changed, f"a request without a valid secret or signature wrote: {changed}"
        if call.path in WEBHOOKS:
            expected = {401, 403, 413} if call.method == "POST" else {405}
            assert response.status_code in expected, response.status_code
    if call.path in WEBHOOKS and len(sent.body) > MAX_BODY_BYTES and call.authentic is not False:
        # Past the limit: 413, never read to the end (without a Content-Length, a request that
        # is not authentic may be refused on its headers first).
        assert response.status_code in (405, 413), response.status_code
    health = live.client.get("/healthz")
    assert health.status_code == 200, health.text
    assert health.json()["status"] == "ok", health.text
    return response, sent


# --- strategies: values, headers, bodies ------------------------------------------------------


def weighted(*choices: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """One of ``choices``, each as often as its weight says (``one_of`` draws them evenly)."""
    labels = [index for index, (weight, _) in enumerate(choices) for _ in range(weight)]

    @st.composite
    def pick(draw: st.DrawFn) -> Any:
        return draw(choices[draw(st.sampled_from(labels))][1])

    return pick()


def often(value: Any, times: int, others: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``value`` ``times`` in ``times + 1`` draws, else one of ``others``."""
    return weighted((times, st.just(value)), (1, others))


TOKEN_CHARS = string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~"
#: Headers httpx or the HTTP framing own; a random value there would test httpx, not the bot.
FRAMING = {
    "content-length",
    "transfer-encoding",
    "host",
    "connection",
    "expect",
    "upgrade",
    "te",
    "trailer",
    "keep-alive",
    "proxy-connection",
}
AUTH = {
    "x-telegram-bot-api-secret-token",
    "x-slack-signature",
    "x-slack-request-timestamp",
    "x-twilio-signature",
}
REAL_HEADERS = [
    "Content-Type",
    "Content-Encoding",
    "Accept",
    "Accept-Charset",
    "Authorization",
    "Cookie",
    "User-Agent",
    "X-Forwarded-For",
    "X-Forwarded-Proto",
    "X-Slack-Retry-Num",
    "X-Slack-Retry-Reason",
    "I-Twilio-Idempotency-Token",
    "X-Twilio-Webhooks-Signature-Settings",
    "X-Home-Region",
    *(h.title() for h in AUTH),
]
CONTENT_TYPES = [
    "application/json",
    "application/json; charset=utf-8",
    "application/json; charset=utf-16",
    "application/x-www-form-urlencoded",
    "application/x-www-form-urlencoded; charset=latin-1",
    "multipart/form-data; boundary=xyz",
    "multipart/form-data",
    "text/plain",
    "text/xml",
    "*/*",
    "",
    ";;;",
]

header_values = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
    max_size=48,
).map(str.strip)
header_names = st.one_of(
    st.sampled_from(REAL_HEADERS), st.text(alphabet=TOKEN_CHARS, min_size=1, max_size=24)
).filter(lambda name: name.lower() not in FRAMING)
content_types = st.one_of(st.none(), st.sampled_from(CONTENT_TYPES), header_values)


def extra_headers(authentic: bool) -> st.SearchStrategy[list[tuple[str, str]]]:
    names = header_names.filter(lambda n: n.lower() not in AUTH) if authentic else header_names
    return st.lists(st.tuples(names, header_values), max_size=4)


safe_query = st.text(alphabet=string.ascii_letters + string.digits + "=&_-", max_size=24)
any_query = st.one_of(
    st.just(""), safe_query, st.text(alphabet=string.printable.strip() + "é", max_size=24)
)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(),
    st.text(max_size=40),
    st.sampled_from(["", "\x00", "/start", "/next", "1", "STOP", "<!channel>", "💥" * 3]),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)

SPECIAL_BYTES = [
    b"",
    b"\x00",
    b"\x00" * 64,
    b"\xff\xfe\xfd",
    b"\xef\xbb\xbf{}",
    b"null",
    b"[]",
    b"{}",
    b"NaN",
    b'"update_id"',
    b'{"update_id": NaN}',
    b'{"update_id": Infinity}',
    b'{"update_id": 1e400}',
    b'{"update_id": 1.0}',
    b'{"update_id": true}',
    b'{"update_id": "1"}',
    b'{"update_id": -1}',
    b'{"update_id": 1' + b"0" * 5000 + b"}",
    b'{"update_id": 1, "message": 5}',
    b'{"update_id": 1, "update_id": 2}',
    b"[" * 5000,
    b'{"a":' * 3000 + b"1" + b"}" * 3000,
    b"payload=",
    b"payload=%7B%7D",
    b"payload=%ZZ",
    b"payload=%FF%FE",
    b"a=%00&b=\x00",
    b"&&&===",
    b"%",
    b"From=&MessageSid=",
    b"MessageSid=SM1&MessageStatus=delivered",
    b"\r\n\r\n",
    b'--xyz\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--xyz--\r\n',
]


def _repeat(seed: bytes, size: int) -> bytes:
    return (seed * (size // len(seed) + 1))[:size]


#: Sizes around the limit: the last byte that fits, the first that does not, and well past it.
SIZES = [MAX_BODY_BYTES - 1, MAX_BODY_BYTES, MAX_BODY_BYTES + 1, 2 * MAX_BODY_BYTES]
sizes = st.one_of(st.sampled_from(SIZES), st.integers(MAX_BODY_BYTES - 8, 2 * MAX_BODY_BYTES))
big_bytes = st.builds(_repeat, st.binary(min_size=1, max_size=8), sizes)
raw_bodies = st.one_of(
    st.sampled_from(SPECIAL_BYTES),
    st.binary(max_size=512),
    st.text(max_size=200).map(str.encode),
    json_values.map(lambda v: json.dumps(v).encode()),
    big_bytes,
)


def resized(body: bytes, filler: bytes, size: int | None) -> bytes:
    """``body`` grown to ``size`` with ``filler`` (a space after JSON, ``&`` after a form: both
    mean nothing there), or as it is."""
    return body if size is None or size <= len(body) else body + filler * (size - len(body))


#: Mostly the body as built; sometimes grown to just under, at or past the limit.
grow_to = often(None, 3, sizes)


# --- mutating recorded payloads ---------------------------------------------------------------


def _paths(node: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [here]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*here, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*here, index))
    return found


def _mutate(node: Any, ops: list[tuple[int, str, Any, str]]) -> Any:
    """Apply each (where, how, value, key) in turn: replace the node at a path, delete it from
    its parent, or add a key (to an object) or an item (to an array) there."""
    root = [json.loads(json.dumps(node))]  # a deep copy, held so that the root may change too
    for where, how, value, key in ops:
        paths = _paths(root[0])
        path = paths[where % len(paths)]
        parent: Any = root
        slot: Any = 0
        for step in path:
            parent, slot = parent[slot], step
        if how == "replace":
            parent[slot] = value
        elif how == "delete" and parent is not root:
            del parent[slot]
        elif how == "add":
            target = parent[slot]
            if isinstance(target, dict):
                target[key] = value
            elif isinstance(target, list):
                target.append(value)
    return root[0]


mutation = st.tuples(
    st.integers(min_value=0, max_value=10_000),
    st.sampled_from(["replace", "replace", "delete", "add"]),
    json_values,
    st.text(max_size=12),
)


def mutated(base: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A recorded payload with one to three fields replaced, removed or added."""
    return st.builds(_mutate, base, st.lists(mutation, min_size=1, max_size=3))


def _serialize(value: Any, compact: bool, ascii_only: bool) -> bytes:
    separators = (",", ":") if compact else (", ", ": ")
    return json.dumps(value, separators=separators, ensure_ascii=ascii_only).encode()


def json_bytes(values: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    return st.builds(_serialize, values, st.booleans(), st.booleans())


methods = st.sampled_from(["POST"] * 12 + ["GET", "PUT", "DELETE", "PATCH"])


# --- Telegram ---------------------------------------------------------------------------------

#: The kinds carebot acts on come up more often than the ones it ignores (groups, edits...).
ACTED_ON = ["text", "command_start_with_payload", "callback_query", "photo_with_caption"]
TELEGRAM_FIXTURES = ACTED_ON * 3 + fixtures.names("telegram")
update_ids = often(
    FRESH_UPDATE,
    3,
    st.one_of(
        st.integers(min_value=1, max_value=2**31),
        st.integers(),
        st.sampled_from([0, -1, 2**63, 2**64 + 1]),
    ),
)
telegram_users = often(
    TELEGRAM_USER, 2, st.one_of(st.integers(min_value=1, max_value=2**40), st.integers())
)
telegram_texts = st.one_of(
    st.sampled_from(
        ["/start", "/start abc", "/next", "/help", "/language", "03/14/2019", "hi", "help me"]
    ),
    st.text(max_size=300),
)


@st.composite
def telegram_updates(draw: st.DrawFn) -> Any:
    """A recorded update (any kind: text, button, photo, group, member change...), filled in;
    often from the linked family."""
    user = draw(telegram_users)
    return fixtures.load(
        "telegram",
        draw(st.sampled_from(TELEGRAM_FIXTURES)),
        update_id=draw(update_ids),
        user_id=user,
        chat_id=draw(st.one_of(st.just(-abs(user) or -1), st.integers())),
        text=draw(telegram_texts),
        token=draw(st.text(max_size=40)),
        data=draw(st.one_of(st.text(max_size=64), st.binary(max_size=16).map(bytes.hex))),
    )


telegram_json = weighted(
    (3, telegram_updates()),
    (4, mutated(telegram_updates())),
    (
        1,
        st.builds(
            lambda rest, uid: {**rest, "update_id": uid},
            st.dictionaries(st.text(max_size=12), json_values, max_size=5),
            update_ids,
        ),
    ),
    (1, st.dictionaries(st.text(max_size=12), json_values, max_size=5)),
    (1, json_values),
)
#: (body, grow to): JSON may grow (with spaces) to the limit and past it; raw bytes have
#: their own sizes.
telegram_bodies = weighted(
    (4, st.tuples(json_bytes(telegram_json), grow_to)),
    (1, st.tuples(raw_bodies, st.none())),
)
WRONG_SECRETS = [
    "",
    TELEGRAM_SECRET.upper(),
    TELEGRAM_SECRET[:-1],
    TELEGRAM_SECRET + "x",
    TELEGRAM_SECRET.replace("-", "_"),
    "Bearer " + TELEGRAM_SECRET,
]
secrets = weighted(
    (6, st.just(TELEGRAM_SECRET)),
    (1, st.none()),
    (1, st.sampled_from(WRONG_SECRETS)),
    (1, header_values),
)


@st.composite
def telegram_calls(draw: st.DrawFn) -> Call:
    secret = draw(secrets)
    method = draw(methods)
    authentic = method == "POST" and secret == TELEGRAM_SECRET
    headers = draw(extra_headers(authentic))
    content_type = draw(st.one_of(st.just("application/json"), content_types))
    if content_type is not None:
        headers.insert(0, ("Content-Type", content_type))
    if secret is not None:
        where = draw(st.integers(0, len(headers)))
        headers.insert(where, ("X-Telegram-Bot-Api-Secret-Token", secret))
    body, grow = draw(telegram_bodies)
    return Call(
        method=method,
        path="/telegram/webhook",
        query=draw(any_query),
        headers=tuple(headers),
        body=body,
        chunked=draw(st.booleans()),
        authentic=authentic,
        grow_to=grow,
    )


# --- Slack ------------------------------------------------------------------------------------

SLACK_FORMS = ["slash_command", "slash_command_enterprise"]
SLACK_PAYLOADS = ["block_actions", "block_suggestion", "shortcut", "view_closed", "view_submission"]
SLACK_EVENTS = [n for n in fixtures.names("slack") if n not in SLACK_FORMS + SLACK_PAYLOADS]
slack_texts = st.one_of(
    st.sampled_from(["today", "patient Maya", "update", "handoff", "invite g-ana", "help", ""]),
    st.text(max_size=200),
)


@st.composite
def slack_fixture(draw: st.DrawFn, names: list[str]) -> Any:
    """A recorded Slack request, filled in; often from the coordinator on the staff list."""
    values = {
        **fixtures.EXAMPLE_VALUES["slack"],
        "team_id": draw(st.sampled_from([TEAM_ID, "T05QZRA9P3R"])),
        "user_id": draw(often(SLACK_USER, 2, st.text(max_size=12))),
        "text": draw(slack_texts),
        "response_url": RESPONSE_URL,
        "event_id": draw(often(FRESH_ID, 3, st.one_of(st.just("Ev07"), st.text(max_size=16)))),
        "trigger_id": draw(often(FRESH_ID, 3, st.text(max_size=16))),
        "action_id": draw(
            st.one_of(
                st.sampled_from(["claim", "resolve", "reassign", "acknowledge"]),
                st.text(max_size=16),
            )
        ),
        "value": draw(st.one_of(st.sampled_from(["1", "esc:1", "h:1", ""]), st.text(max_size=16))),
    }
    return fixtures.load("slack", draw(st.sampled_from(names)), **values)


def _form_of(fields: Any) -> bytes:
    """As Slack posts a form: string fields as they are, others (``payload``) as JSON text."""
    if not isinstance(fields, dict):
        return urlencode({"payload": json.dumps(fields)}).encode()
    return urlencode(
        {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in fields.items()}
    ).encode()


def _slack_fixture(names: list[str]) -> st.SearchStrategy[Any]:
    return st.one_of(slack_fixture(names), mutated(slack_fixture(names)))


FORM = "application/x-www-form-urlencoded"


def slack_body(
    contents: st.SearchStrategy[bytes],
    content_type: st.SearchStrategy[str | None],
    filler: bytes | None = None,
) -> st.SearchStrategy[tuple[bytes, str | None, bytes, int | None]]:
    """(body, content type, filler, grow to): a body that may grow with ``filler``."""
    grow = grow_to if filler is not None else st.none()
    return st.tuples(contents, content_type, st.just(filler or b" "), grow)


slack_bodies = weighted(
    (3, slack_body(st.builds(_form_of, _slack_fixture(SLACK_FORMS)), st.just(FORM), b"&")),
    (3, slack_body(st.builds(_form_of, _slack_fixture(SLACK_PAYLOADS)), st.just(FORM))),
    (
        3,
        slack_body(json_bytes(_slack_fixture(SLACK_EVENTS)), st.just("application/json"), b" "),
    ),
    (
        1,
        slack_body(
            st.builds(
                lambda fields, payload: urlencode({**fields, "payload": payload}).encode(),
                st.dictionaries(st.text(max_size=8), st.text(max_size=16), max_size=3),
                st.one_of(st.text(max_size=64), json_values.map(json.dumps)),
            ),
            st.just(FORM),
        ),
    ),
    (1, slack_body(json_bytes(json_values), st.just("application/json"))),
    (1, slack_body(raw_bodies, content_types)),
    (
        1,
        slack_body(
            st.builds(_form_of, _slack_fixture(SLACK_FORMS + SLACK_PAYLOADS + SLACK_EVENTS)),
            content_types,
        ),
    ),
)
#: How a request is signed: validly (now, or as a retry), or not quite.
SLACK_AUTH = ["valid"] * 8 + [
    "valid-retry",
    "none",
    "wrong-secret",
    "stale",
    "future",
    "tampered",
    "timestamp-garbage",
    "no-prefix",
    "other-timestamp",
    "signature-only",
    "timestamp-only",
]


@st.composite
def slack_calls(draw: st.DrawFn) -> Call:
    body, content_type, filler, grow = draw(slack_bodies)
    how = draw(st.sampled_from(SLACK_AUTH))
    method = draw(methods)
    # Slack signs the raw bytes, UTF-8 or not: a valid signature makes any body authentic.
    authentic = method == "POST" and how in ("valid", "valid-retry")
    headers = draw(extra_headers(authentic))
    if content_type is not None:
        headers.insert(0, ("Content-Type", content_type))
    return Call(
        method=method,
        path="/slack/events",
        query=draw(any_query),
        headers=tuple(headers),
        body=body,
        chunked=draw(st.booleans()),
        authentic=authentic,
        grow_to=grow,
        filler=filler,
        auth=how,
    )


def sign_slack(
    how: str, headers: tuple[tuple[str, str], ...], body: bytes
) -> tuple[tuple[tuple[str, str], ...], bytes]:
    """The signature headers ``how`` asks for (at send time: Slack's timestamps are real)."""
    now = time.time()
    signature: dict[str, str] = {}
    if how in ("valid", "valid-retry", "tampered", "no-prefix", "signature-only", "timestamp-only"):
        retry = 1 if how == "valid-retry" else None
        signature = slack_signing.sign(SLACK_SIGNING, body, retry_num=retry)
    elif how == "wrong-secret":
        signature = slack_signing.sign(SLACK_SIGNING + "x", body)
    elif how == "stale":
        signature = slack_signing.sign(SLACK_SIGNING, body, now=now - 6 * 60)
    elif how == "future":
        signature = slack_signing.sign(SLACK_SIGNING, body, now=now + 6 * 60)
    elif how == "timestamp-garbage":
        signature = slack_signing.sign(SLACK_SIGNING, body)
        signature["X-Slack-Request-Timestamp"] = "²" + signature["X-Slack-Request-Timestamp"]
    elif how == "other-timestamp":
        signature = slack_signing.sign(SLACK_SIGNING, body, now=now - 10)
        signature["X-Slack-Request-Timestamp"] = str(int(now))
    if how == "tampered":
        body = body + b" " if not body.endswith(b" ") else body[:-1]
    elif how == "no-prefix":
        signature["X-Slack-Signature"] = signature["X-Slack-Signature"].removeprefix("v0=")
    elif how == "signature-only":
        del signature["X-Slack-Request-Timestamp"]
    elif how == "timestamp-only":
        del signature["X-Slack-Signature"]
    return headers + tuple(signature.items()), body


# --- Twilio -----------------------------------------------------------------------------------

TWILIO_FIXTURES = fixtures.names("twilio")
TWILIO_NAMES = sorted(
    {name for fixture in TWILIO_FIXTURES for name in fixtures.load_example("twilio", fixture)}
    | set(GEO_FIELDS)
    | {"MediaUrl0", "MediaContentType0", "OptOutType", "ErrorCode", "ErrorMessage", "AddOns"}
)
twilio_values = st.one_of(
    st.just(""),
    st.sampled_from(
        [
            GUARDIAN_PHONE,
            SMS_FROM,
            TWILIO_ACCOUNT,
            "SM1",
            "0",
            "1",
            "-1",
            "99999999999999999999",
            "2C",
            "STOP",
            "START",
            "HELP",
            "21610",
            "30003",
            "STOP\x00",
            "http://",
            *sorted(STATUSES),
        ]
    ),
    st.text(max_size=80),
)
twilio_names = st.one_of(st.sampled_from(TWILIO_NAMES), st.text(max_size=16))


@st.composite
def twilio_forms(draw: st.DrawFn) -> list[tuple[str, str]]:
    """A form as pairs (a name may repeat): mostly a recorded one, then changed."""
    if draw(often(True, 4, st.just(False))):
        sid = draw(often(FRESH_ID, 3, st.one_of(st.just("SM" + "0" * 32), st.text(max_size=34))))
        base = fixtures.load(
            "twilio",
            draw(st.sampled_from(TWILIO_FIXTURES)),
            MessageSid=sid,
            AccountSid=TWILIO_ACCOUNT,
            From=draw(st.one_of(st.sampled_from([GUARDIAN_PHONE, SMS_FROM]), twilio_values)),
            To=draw(st.sampled_from([SMS_FROM, GUARDIAN_PHONE])),
            Body=draw(st.one_of(telegram_texts, twilio_values)),
        )
        pairs = [(str(k), str(v)) for k, v in base.items()]
    else:
        pairs = []
    for _ in range(draw(st.integers(0, 3))):
        how = draw(st.sampled_from(["drop", "set", "add", "repeat"]))
        if how == "drop" and pairs:
            del pairs[draw(st.integers(0, len(pairs) - 1))]
        elif how == "set" and pairs:
            index = draw(st.integers(0, len(pairs) - 1))
            pairs[index] = (pairs[index][0], draw(twilio_values))
        elif how == "repeat" and pairs:
            name = pairs[draw(st.integers(0, len(pairs) - 1))][0]
            pairs.append((name, draw(twilio_values)))
        else:
            pairs.append((draw(twilio_names), draw(twilio_values)))
    return pairs


def twilio_sign(url: str, pairs: list[tuple[str, str]], token: str = TWILIO_TOKEN) -> str:
    """Twilio's signature over ``url`` and the parameters (every value of a repeated one)."""
    names = [name for name, _ in pairs]
    if len(set(names)) == len(names):
        return twilio_signature(token, url, dict(pairs))
    return RequestValidator(token).compute_signature(url, ImmutableMultiDict(pairs))


TAMPERED = ("TamperedBy", "hypothesis")
#: How a form is signed: validly (over the URL, with its query if it has one), or not.
TWILIO_AUTH = ["valid"] * 6 + [
    "valid-query",
    "none",
    "empty",
    "wrong-token",
    "other-path",
    "http",
    "tampered",
    "garbage",
    "query-not-signed",
]


@st.composite
def twilio_calls(draw: st.DrawFn, path: str) -> Call:
    method = draw(methods)
    how = draw(st.sampled_from(TWILIO_AUTH))
    query = draw(safe_query.filter(bool)) if how in ("valid-query", "query-not-signed") else ""
    authentic: bool | None
    signature = None
    if draw(often(True, 5, st.just(False))):
        form: tuple[tuple[str, str], ...] | None = tuple(draw(twilio_forms()))
        body = b""
        grow = draw(grow_to)
        if how == "empty":
            signature = ""
        elif how == "garbage":
            signature = draw(header_values)
        if how == "tampered":
            form = (*form, TAMPERED)
        # Trailing "&"s add no parameter: the signature still holds, at any size.
        authentic = method == "POST" and how in ("valid", "valid-query")
        content_type = draw(st.one_of(st.just(FORM), content_types))
    else:
        form, grow = None, None
        body = draw(raw_bodies)
        empty = twilio_sign(PUBLIC + path, [])
        signature = draw(st.one_of(st.none(), header_values, st.just(empty)))
        # The empty form's signature holds for any body Twilio's scheme reads as no parameters
        # at all (b"", b"&&"): such a request may be authentic.
        authentic = None if method == "POST" and signature == empty else False
        content_type = draw(content_types)
    headers = draw(extra_headers(authentic is not False))
    if content_type is not None:
        headers.insert(0, ("Content-Type", content_type))
    if signature is not None:
        headers.insert(draw(st.integers(0, len(headers))), ("X-Twilio-Signature", signature))
    return Call(
        method=method,
        path=path,
        query=query,
        headers=tuple(headers),
        body=body,
        chunked=draw(st.booleans()),
        authentic=authentic,
        grow_to=grow,
        filler=b"&",
        auth=how,
        form=form,
    )


def sign_twilio(
    call: Call, form: list[tuple[str, str]], headers: tuple[tuple[str, str], ...]
) -> tuple[tuple[str, str], ...]:
    """The X-Twilio-Signature ``call.auth`` asks for, over the form as it is sent (fresh ids in).
    ``tampered`` signs the form without the parameter the body has in addition."""
    how, path = call.auth, call.path
    url = PUBLIC + path + (f"?{call.query}" if how == "valid-query" else "")
    if how in ("valid", "valid-query", "query-not-signed"):
        signature = twilio_sign(url, form)
    elif how == "wrong-token":
        signature = twilio_sign(url, form, TWILIO_TOKEN + "x")
    elif how == "other-path":
        other = "/sms/twilio/status" if path == "/sms/twilio" else "/sms/twilio"
        signature = twilio_sign(PUBLIC + other, form)
    elif how == "http":
        signature = twilio_sign(url.replace("https://", "http://"), form)
    elif how == "tampered":
        signature = twilio_sign(url, [pair for pair in form if pair != TAMPERED])
    else:
        return headers
    return (*headers, ("X-Twilio-Signature", signature))


# --- read-only endpoints ------------------------------------------------------------------------


@st.composite
def read_calls(draw: st.DrawFn, path: str) -> Call:
    method = draw(st.sampled_from(["GET"] * 6 + ["HEAD", "POST", "PUT", "DELETE"]))
    body = draw(st.one_of(st.just(b""), raw_bodies)) if method != "GET" else b""
    return Call(
        method=method,
        path=path,
        query=draw(any_query),
        headers=tuple(draw(extra_headers(False))),
        body=body if method != "HEAD" else b"",
        chunked=False,
        authentic=False,
    )


# --- the properties ---------------------------------------------------------------------------


@_settings(EXAMPLES)
@given(call=telegram_calls())
def test_telegram_webhook(live: Live, call: Call) -> None:
    response, sent = exercise(live, call)
    if call.authentic is True and len(sent.body) <= MAX_BODY_BYTES:
        assert response.status_code == 200, response.status_code


@_settings(EXAMPLES)
@given(call=slack_calls())
def test_slack_events(live: Live, call: Call) -> None:
    response, sent = exercise(live, call)
    if call.authentic is True and len(sent.body) <= MAX_BODY_BYTES:
        assert response.status_code == 200, response.status_code


@_settings(EXAMPLES)
@given(call=twilio_calls("/sms/twilio"))
def test_sms_inbound(live: Live, call: Call) -> None:
    response, sent = exercise(live, call)
    if call.authentic is True and len(sent.body) <= MAX_BODY_BYTES:
        assert response.status_code == 200, response.status_code
        assert response.headers["content-type"].startswith("text/xml")


@_settings(EXAMPLES)
@given(call=twilio_calls("/sms/twilio/status"))
def test_sms_status(live: Live, call: Call) -> None:
    response, sent = exercise(live, call)
    if call.authentic is True and len(sent.body) <= MAX_BODY_BYTES:
        assert response.status_code == 200, response.status_code


@_settings(LIGHT_EXAMPLES)
@given(call=read_calls("/healthz"))
def test_healthz(live: Live, call: Call) -> None:
    response, _ = exercise(live, call)
    if call.method == "GET":
        assert response.status_code == 200
        assert response.json()["status"] == "ok"


@_settings(LIGHT_EXAMPLES)
@given(call=read_calls("/metrics"))
def test_metrics(live: Live, call: Call) -> None:
    response, _ = exercise(live, call)
    if call.method == "GET":
        assert response.status_code == 200
        assert "carebot" in response.text
