-- Reminder planning looks ahead a bounded horizon and is incremental: this row says how far
-- ahead the schedule has been planned, and under which rules (offsets and quiet hours); a
-- change of rules re-plans the window, anything else only plans what entered it since.
CREATE TABLE reminder_planning (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    planned_until TEXT NOT NULL,
    rules TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- The queries that run per reminder: the carriers' daily and weekly caps look up a number's
-- reminder messages (message -> reminder), a household's other reminders are a guardian's
-- pending ones, and planning reads the booked visits of a window in start order.
CREATE INDEX reminder_by_message ON reminder (message_id) WHERE message_id IS NOT NULL;
CREATE INDEX reminder_pending_by_guardian ON reminder (guardian_id, appointment_start_at)
    WHERE status = 'pending';
CREATE INDEX appointment_booked_by_start ON appointment (start_at, id) WHERE status = 'booked';
