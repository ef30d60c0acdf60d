-- A staff member's read-only request (a day view, a patient summary) is recorded as an inbound
-- message carrying the provider's event id, de-duplicated by this index in the same statement.
-- (Slack's event and trigger ids are never reused; Telegram's update ids are, after a week of
-- silence, which is why family events keep using inbound_event, pruned after seven days.)
ALTER TABLE message ADD COLUMN event_id TEXT;

CREATE UNIQUE INDEX message_by_event ON message (channel, event_id) WHERE event_id IS NOT NULL;
