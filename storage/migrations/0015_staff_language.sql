-- The language a staff member reads carebot's messages in (their direct messages, notes, forms
-- and Home tab); BCP 47 reduced to one carebot speaks when shown. Posts in the coordinators'
-- channel use the practice's staff channel language instead (a setting).
ALTER TABLE staff ADD COLUMN language TEXT NOT NULL DEFAULT 'en';
