-- Planning reads the booked visits of a window in (start_at, id) order. appointment_day (0008)
-- already holds every visit in that order, with its status, so the partial index of 0007 was a
-- second copy of the same order: one more B-tree written per visit. At 10,000 patients an
-- import of visits in patient order held the writer a third longer with it (measured with
-- /tmp/imp/phases.py, 100,000 rows: 8.4-10.1 s against 5.3-6.4 s); the planning page reads
-- the same rows either way (a row look-up per visit for its other columns).
DROP INDEX appointment_booked_by_start;
