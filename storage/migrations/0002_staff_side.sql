-- The staff side: escalations relayed through a Slack thread, clinicians' updates, handoffs.

-- An outbound message posted into a thread names the thread's first message (the outbox uses
-- that message's provider id, e.g. Slack's thread_ts, once it has been sent).
ALTER TABLE message ADD COLUMN thread_message_id INTEGER REFERENCES message (id);

-- What the bot could not handle, waiting for (or with) a person. One open per family address.
CREATE TABLE escalation (
    id INTEGER PRIMARY KEY,
    guardian_id TEXT REFERENCES guardian (id),
    patient_id TEXT REFERENCES patient (id),
    family_channel TEXT NOT NULL,
    family_address TEXT NOT NULL,
    family_language TEXT NOT NULL DEFAULT 'en',
    reason TEXT NOT NULL CHECK (reason IN (
        'not-understood', 'reschedule', 'person', 'after-hours', 'emergency')),
    urgent INTEGER NOT NULL DEFAULT 0 CHECK (urgent IN (0, 1)),
    status TEXT NOT NULL CHECK (status IN ('open', 'claimed', 'resolved')),
    claimed_by TEXT REFERENCES staff (id),
    claimed_at TEXT,
    resolved_by TEXT REFERENCES staff (id),
    resolved_at TEXT,
    thread_message_id INTEGER REFERENCES message (id),
    last_family_at TEXT NOT NULL,
    last_staff_reply_at TEXT,
    raised_count INTEGER NOT NULL DEFAULT 0,
    next_check_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX escalation_one_open_per_address
    ON escalation (family_channel, family_address) WHERE status != 'resolved';
CREATE INDEX escalation_due ON escalation (next_check_at) WHERE status != 'resolved';
CREATE INDEX escalation_by_patient ON escalation (patient_id);

-- A clinician's update: to the family (relayed to every guardian who may receive updates), or a
-- note for the care team only (stays in the record).
CREATE TABLE care_update (
    id INTEGER PRIMARY KEY,
    patient_id TEXT NOT NULL REFERENCES patient (id),
    staff_id TEXT NOT NULL REFERENCES staff (id),
    audience TEXT NOT NULL CHECK (audience IN ('family', 'care-team')),
    body TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX care_update_by_patient ON care_update (patient_id, created_at);

-- A patient handed from one clinician to another; acknowledged by the receiver.
CREATE TABLE handoff (
    id INTEGER PRIMARY KEY,
    patient_id TEXT NOT NULL REFERENCES patient (id),
    from_staff_id TEXT NOT NULL REFERENCES staff (id),
    to_staff_id TEXT NOT NULL REFERENCES staff (id),
    summary TEXT NOT NULL,
    open_items TEXT NOT NULL DEFAULT '',
    effective_date TEXT NOT NULL,
    tell_family INTEGER NOT NULL DEFAULT 0 CHECK (tell_family IN (0, 1)),
    status TEXT NOT NULL CHECK (status IN ('pending', 'acknowledged')),
    acknowledged_at TEXT,
    ack_due_at TEXT NOT NULL,
    raised_at TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX handoff_pending ON handoff (ack_due_at) WHERE status = 'pending';
CREATE INDEX handoff_by_receiver ON handoff (to_staff_id, status);

-- Slack retries a delivery it thinks failed; Bolt does not dedupe them. Seen event ids live in
-- inbound_event like every other channel's.
