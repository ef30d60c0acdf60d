-- A clinician's day reads the practice's day from appointment_day (0008), which holds the
-- clinician of every visit: at 10,000 patients some 2,000 index entries a day, read in well
-- under a millisecond. The (staff_id, start_at) index only spared that, and cost every visit
-- written one more B-tree in start order: importing a year of visits in the file's patient
-- order at 10,000 patients ran at 3,316 rows a second with it and 4,658 without it (the same
-- machine, the same hour; /tmp/imp_exp.sh in issue 11's note).
DROP INDEX appointment_by_staff_start;
