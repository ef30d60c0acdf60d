-- What an outbound message reveals, by the names of what it was made of ("child,date,time"):
-- each message says it as it is queued, and the outbox checks it against what its channel may
-- carry (ARCHITECTURE.md, "Privacy by channel"), whoever queued it. Until now the check ran in
-- handlers and only for messages built through them; the rows already queued were checked
-- there, so they declare nothing more.
ALTER TABLE message ADD COLUMN reveals TEXT NOT NULL DEFAULT '';
