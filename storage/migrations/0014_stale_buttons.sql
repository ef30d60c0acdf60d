-- Messages sent to a family whose buttons no longer stand for anything (the visit they answer
-- moved): work as rows, so the reminder dispatcher changes each message in place (its buttons
-- gone, a note why) once, whatever process moved the visit (an import, in its own batches).
CREATE TABLE stale_buttons (
    message_id INTEGER PRIMARY KEY REFERENCES message (id),
    reason TEXT NOT NULL CHECK (reason IN ('moved')),
    created_at TEXT NOT NULL
);
