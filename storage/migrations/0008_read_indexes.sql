-- The read paths staff and families use on every request, at a practice's size (10,000
-- patients, half a million visits a year): each query finds its rows through an index instead
-- of reading a table from end to end (tests/storage/test_query_plans.py checks the plans).

-- /carebot patient <name or id>: whole and prefix matches, any case, on the same lower()
-- expressions the search uses (SQLite uses an expression index only for that exact expression).
CREATE INDEX patient_search_id ON patient (lower(id));
CREATE INDEX patient_search_first ON patient (lower(first_name));
CREATE INDEX patient_search_last ON patient (lower(last_name));
CREATE INDEX patient_search_full ON patient (lower(first_name || ' ' || last_name));

-- A clinician's care-team patients (the update and handoff forms, a clinician's search): the
-- primary key starts with the patient, so by staff member it was a scan.
CREATE INDEX care_team_by_staff ON care_team (staff_id, patient_id);

-- A clinician's day (/carebot today, the Home tab): their visits of the day, not the whole
-- practice's day filtered.
CREATE INDEX appointment_by_staff_start ON appointment (staff_id, start_at);

-- The practice's day (a coordinator's /carebot today and Home tab: some 2,000 visits at 10,000
-- patients) read from one index that holds every column the view shows, in the view's order,
-- instead of a row look-up per visit. It begins with start_at, so it serves every query
-- appointment_by_start served, and replaces it (one index to keep up to date, not two).
CREATE INDEX appointment_day ON appointment (start_at, id, patient_id, staff_id, status,
    participant_status, cancellation_reason, reschedule_requested_at, service);
DROP INDEX appointment_by_start;

-- A reply in an escalation's Slack thread: the escalation whose thread starts with that post.
CREATE INDEX escalation_by_thread ON escalation (thread_message_id)
    WHERE thread_message_id IS NOT NULL;
