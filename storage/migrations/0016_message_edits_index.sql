-- Whether a message has been changed since it was sent (a reminder answered elsewhere is
-- changed once): found by the message it edits, not by reading every message.
CREATE INDEX message_edits ON message (edits_message_id) WHERE edits_message_id IS NOT NULL;
