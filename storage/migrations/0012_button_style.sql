-- How a button on a staff message stands out (primary, danger), said by the handler that made
-- it: the Slack renderer no longer keeps its own list of which actions get which style.
ALTER TABLE message_button ADD COLUMN style TEXT;
