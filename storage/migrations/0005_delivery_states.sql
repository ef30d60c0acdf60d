-- carebot: foreign-keys-off
-- Delivery states: queued -> sending (committed before the platform call) -> sent -> delivered,
-- or failed. A row found 'sending' at start-up (its process died mid-call) becomes 'unknown'
-- and is resolved by the outbox's policy: found at the provider ('found'), or sent again and
-- flagged as a possible duplicate ('resent'). SQLite cannot change a CHECK constraint in place,
-- so the message table is rebuilt (SQLite's documented procedure: foreign keys off, copy,
-- drop, rename, foreign_key_check before commit).
--
-- Also: how many parts of a long message are out, which staff member wrote a message to a
-- family (told if it fails for good), and an index on the provider's id (delivery reports).

CREATE TABLE message_rebuilt (
    id INTEGER PRIMARY KEY,
    direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
    channel TEXT NOT NULL,
    address TEXT NOT NULL,
    guardian_id TEXT REFERENCES guardian (id),
    staff_id TEXT REFERENCES staff (id),
    template TEXT NOT NULL DEFAULT '',
    body TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN (
        'received', 'queued', 'sending', 'sent', 'delivered', 'failed', 'unknown')),
    provider_message_id TEXT,
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    not_before TEXT NOT NULL,
    created_at TEXT NOT NULL,
    sent_at TEXT,
    thread_message_id INTEGER REFERENCES message (id),
    event_id TEXT,
    sending_at TEXT,
    parts_sent INTEGER NOT NULL DEFAULT 0,
    author_staff_id TEXT REFERENCES staff (id),
    recovery TEXT CHECK (recovery IN ('found', 'resent')),
    recovered_at TEXT
);

INSERT INTO message_rebuilt (id, direction, channel, address, guardian_id, staff_id, template,
    body, status, provider_message_id, error, attempts, not_before, created_at, sent_at,
    thread_message_id, event_id)
SELECT id, direction, channel, address, guardian_id, staff_id, template, body, status,
    provider_message_id, error, attempts, not_before, created_at, sent_at, thread_message_id,
    event_id
FROM message;

DROP TABLE message;
ALTER TABLE message_rebuilt RENAME TO message;

CREATE INDEX message_by_address ON message (address, id);
CREATE UNIQUE INDEX message_by_event ON message (channel, event_id) WHERE event_id IS NOT NULL;
CREATE INDEX message_by_provider_id ON message (provider_message_id)
    WHERE provider_message_id IS NOT NULL;
-- The outbox reads each channel on its own: the first queued message of each address (its
-- head, which keeps the address's order), and the channel's next due time.
CREATE INDEX message_queue_heads ON message (channel, address, id, not_before, attempts)
    WHERE status = 'queued';
CREATE INDEX message_queue_due ON message (channel, not_before) WHERE status = 'queued';
CREATE INDEX message_in_flight ON message (status) WHERE status IN ('sending', 'unknown');

-- An authentic request carebot could not use (a malformed update, an unexpected shape, a
-- failure while handling it): answered 200 so the platform does not retry it for ever, and
-- kept here so that nothing is dropped unseen. Never the body: its size and why.
CREATE TABLE unusable_request (
    id INTEGER PRIMARY KEY,
    channel TEXT NOT NULL,
    received_at TEXT NOT NULL,
    reason TEXT NOT NULL,
    event_id TEXT,
    size INTEGER NOT NULL
);
CREATE INDEX unusable_request_by_time ON unusable_request (received_at);
