-- A phone number two guardians share (two parents on one phone, or two families): the channel
-- identity belongs to the first guardian imported with it; the others are listed here, and are
-- texted on it about their own children only.
CREATE TABLE shared_number (
    channel TEXT NOT NULL,
    address TEXT NOT NULL,
    guardian_id TEXT NOT NULL REFERENCES guardian (id),
    consent_at TEXT,
    created_at TEXT NOT NULL,
    PRIMARY KEY (channel, address, guardian_id)
);
CREATE INDEX shared_number_by_guardian ON shared_number (guardian_id);
