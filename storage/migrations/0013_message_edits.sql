-- A message can change after it was sent: an escalation's post once it is claimed or resolved,
-- a handoff once acknowledged, a family's reminder once answered (no stale button stays live).
-- The change is an outbound row of its own, queued and sent by the outbox like any other
-- (Slack's chat.update, Telegram's editMessageText), naming the message it edits.
ALTER TABLE message ADD COLUMN edits_message_id INTEGER REFERENCES message (id);
-- The direct message that asked the receiver to acknowledge a handoff (it is edited then).
ALTER TABLE handoff ADD COLUMN post_message_id INTEGER REFERENCES message (id);
