-- The care record, first slice. Instants are UTC text 'YYYY-MM-DDTHH:MM:SSZ' (they sort as text).
-- Vocabulary follows FHIR R4 (Appointment.status, participant status, RelatedPerson).

CREATE TABLE practice (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    name TEXT NOT NULL,
    phone TEXT NOT NULL,
    timezone TEXT NOT NULL,
    business_hours_start TEXT NOT NULL,
    business_hours_end TEXT NOT NULL,
    quiet_hours_start TEXT NOT NULL,
    quiet_hours_end TEXT NOT NULL,
    reminder_offsets_hours TEXT NOT NULL,
    late_cancel_hours INTEGER NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE patient (
    id TEXT PRIMARY KEY,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    date_of_birth TEXT NOT NULL,
    language TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE guardian (
    id TEXT PRIMARY KEY,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    phone TEXT,
    language TEXT NOT NULL,
    sms_consent INTEGER NOT NULL CHECK (sms_consent IN (0, 1)),
    timezone TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- A guardian is a FHIR RelatedPerson per patient: relationship and permissions are per child.
CREATE TABLE guardian_patient (
    guardian_id TEXT NOT NULL REFERENCES guardian (id),
    patient_id TEXT NOT NULL REFERENCES patient (id),
    relationship TEXT NOT NULL,
    may_receive_updates INTEGER NOT NULL DEFAULT 1 CHECK (may_receive_updates IN (0, 1)),
    PRIMARY KEY (guardian_id, patient_id)
);
CREATE INDEX guardian_patient_by_patient ON guardian_patient (patient_id);

CREATE TABLE staff (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('clinician', 'coordinator', 'admin')),
    discipline TEXT NOT NULL DEFAULT '',
    slack_user_id TEXT UNIQUE,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE care_team (
    patient_id TEXT NOT NULL REFERENCES patient (id),
    staff_id TEXT NOT NULL REFERENCES staff (id),
    added_at TEXT NOT NULL,
    PRIMARY KEY (patient_id, staff_id)
);

CREATE TABLE appointment (
    id TEXT PRIMARY KEY,
    patient_id TEXT NOT NULL REFERENCES patient (id),
    staff_id TEXT NOT NULL REFERENCES staff (id),
    start_at TEXT NOT NULL,
    duration_minutes INTEGER NOT NULL CHECK (duration_minutes > 0),
    service TEXT NOT NULL DEFAULT '',
    location TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'booked' CHECK (status IN (
        'proposed', 'pending', 'booked', 'arrived', 'fulfilled', 'cancelled', 'noshow',
        'entered-in-error', 'checked-in', 'waitlist')),
    participant_status TEXT NOT NULL DEFAULT 'needs-action' CHECK (participant_status IN (
        'needs-action', 'accepted', 'declined', 'tentative')),
    answered_by_guardian_id TEXT REFERENCES guardian (id),
    answered_at TEXT,
    cancellation_reason TEXT CHECK (cancellation_reason IN ('sick', 'schedule-conflict', 'other')),
    reschedule_requested_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX appointment_by_patient_start ON appointment (patient_id, start_at);
CREATE INDEX appointment_by_start ON appointment (start_at);

-- (channel, address) -> exactly one guardian or one staff member.
CREATE TABLE channel_identity (
    id INTEGER PRIMARY KEY,
    channel TEXT NOT NULL,
    address TEXT NOT NULL,
    guardian_id TEXT REFERENCES guardian (id),
    staff_id TEXT REFERENCES staff (id),
    verified_at TEXT,
    consent_at TEXT,
    opted_out_at TEXT,
    blocked_at TEXT,
    created_at TEXT NOT NULL,
    UNIQUE (channel, address),
    CHECK ((guardian_id IS NULL) <> (staff_id IS NULL))
);
CREATE INDEX channel_identity_by_guardian ON channel_identity (guardian_id);

-- Every inbound and outbound message: the conversation history and the outbox.
CREATE TABLE message (
    id INTEGER PRIMARY KEY,
    direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
    channel TEXT NOT NULL,
    address TEXT NOT NULL,
    guardian_id TEXT REFERENCES guardian (id),
    staff_id TEXT REFERENCES staff (id),
    template TEXT NOT NULL DEFAULT '',
    body TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('received', 'queued', 'sent', 'delivered', 'failed', 'unknown')),
    provider_message_id TEXT,
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    not_before TEXT NOT NULL,
    created_at TEXT NOT NULL,
    sent_at TEXT
);
CREATE INDEX message_outbox ON message (status, not_before) WHERE status = 'queued';
CREATE INDEX message_by_address ON message (address, id);

CREATE TABLE message_button (
    message_id INTEGER NOT NULL REFERENCES message (id),
    position INTEGER NOT NULL,
    label TEXT NOT NULL,
    token TEXT NOT NULL,
    PRIMARY KEY (message_id, position)
);

-- Reminders are the source of truth for what is due; the scheduler only wakes the dispatcher.
CREATE TABLE reminder (
    id INTEGER PRIMARY KEY,
    appointment_id TEXT NOT NULL REFERENCES appointment (id),
    guardian_id TEXT NOT NULL REFERENCES guardian (id),
    offset_hours INTEGER NOT NULL,
    appointment_start_at TEXT NOT NULL,
    due_at TEXT NOT NULL,
    send_at TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'withdrawn', 'expired', 'undeliverable')),
    message_id INTEGER REFERENCES message (id),
    dedupe_key TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX reminder_due ON reminder (status, send_at) WHERE status = 'pending';
CREATE INDEX reminder_by_appointment ON reminder (appointment_id);

-- Append-only: who did what to which record. Never message text.
CREATE TABLE audit_event (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor_type TEXT NOT NULL CHECK (actor_type IN ('guardian', 'staff', 'system', 'operator')),
    actor_id TEXT NOT NULL DEFAULT '',
    action TEXT NOT NULL,
    entity_type TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_by_entity ON audit_event (entity_type, entity_id);

-- One-time invites: only a hash of the token is kept.
CREATE TABLE invite (
    id INTEGER PRIMARY KEY,
    guardian_id TEXT NOT NULL REFERENCES guardian (id),
    token_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    failed_attempts INTEGER NOT NULL DEFAULT 0,
    used_at TEXT,
    burned_at TEXT
);

-- A /start in progress: this address has opened this invite and owes a date of birth.
CREATE TABLE pending_link (
    channel TEXT NOT NULL,
    address TEXT NOT NULL,
    invite_id INTEGER NOT NULL REFERENCES invite (id),
    started_at TEXT NOT NULL,
    PRIMARY KEY (channel, address)
);

-- Opaque button tokens: what a button does is kept here, never in the client's hands.
CREATE TABLE action_token (
    token TEXT PRIMARY KEY,
    action TEXT NOT NULL,
    guardian_id TEXT NOT NULL REFERENCES guardian (id),
    appointment_id TEXT REFERENCES appointment (id),
    appointment_start_at TEXT,
    value TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
);

-- Provider event ids already handled, written in the same transaction as their effect.
CREATE TABLE inbound_event (
    channel TEXT NOT NULL,
    event_id TEXT NOT NULL,
    received_at TEXT NOT NULL,
    PRIMARY KEY (channel, event_id)
);
