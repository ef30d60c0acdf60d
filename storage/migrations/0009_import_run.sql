-- An import writes a checked file in batches, each its own short transaction. This row says how
-- far a run got: one that never finished (its process died mid-way) is reported by the next
-- `carebot import` until the same kind and file are imported to the end.
CREATE TABLE import_run (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    file TEXT NOT NULL,
    rows INTEGER NOT NULL,
    written INTEGER NOT NULL DEFAULT 0,
    started_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    finished_at TEXT
);
CREATE INDEX import_run_unfinished ON import_run (kind, file) WHERE finished_at IS NULL;
