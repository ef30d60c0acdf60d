-- Where each of the practice's settings came from, so `carebot practice` can say it: an
-- environment variable, a config file, settings given in code, the documented default, or the
-- demo data. updated_at is when that value (or its origin) last changed. A practice saved before
-- this migration has no rows here until a setting is given again.
CREATE TABLE practice_setting_origin (
    setting TEXT PRIMARY KEY CHECK (
        setting IN (
            'name',
            'phone',
            'timezone',
            'business_hours',
            'quiet_hours',
            'reminder_offsets_hours',
            'late_cancel_hours'
        )
    ),
    origin TEXT NOT NULL CHECK (
        origin IN ('default', 'demo data', 'configuration')
        OR origin LIKE 'environment CAREBOT\_%' ESCAPE '\'
        OR origin LIKE 'config file _%'
    ),
    updated_at TEXT NOT NULL
);
