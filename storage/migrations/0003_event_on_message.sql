-- An inbound message can carry the provider event id that brought it; inserting such a message
-- claims the id in inbound_event in the same statement (so a staff member's read-only request is
-- recorded and de-duplicated in one atomic write).
ALTER TABLE message ADD COLUMN event_id TEXT;

CREATE TRIGGER message_claims_event AFTER INSERT ON message WHEN NEW.event_id IS NOT NULL
BEGIN INSERT INTO inbound_event (channel, event_id, received_at) VALUES (NEW.channel, NEW.event_id, NEW.created_at); END;
