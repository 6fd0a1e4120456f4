-- edgeopt:step id=sessions_attempts_indexes
-- Indexes on study_sessions and test_attempts: the history of a user per exam, newest
-- first, and the open session or attempt to resume.
-- The resume lookups use full indexes with status as an equality column, not partial
-- indexes on status = 'active' / 'in_progress'. Open rows are rare and often absent, and
-- ANALYZE writes no sqlite_stat1 row for an empty index: the planner then costs the
-- partial index by guesses and takes the analyzed history index instead, which walks
-- every session of the user on the exam through the table when none is open.
-- With (user_id, exam_id, status, started_at) the lookup is one probe whether or not a
-- row is open, and the index has statistics like any other.
-- up
-- serves: study_sessions_recent
CREATE INDEX idx_study_sessions_user_exam
    ON study_sessions (user_id, exam_id, started_at);

-- serves: study_session_active
CREATE INDEX idx_study_sessions_user_exam_status
    ON study_sessions (user_id, exam_id, status, started_at);

-- serves: test_attempts_by_user
CREATE INDEX idx_test_attempts_user_exam
    ON test_attempts (user_id, exam_id, started_at);

-- serves: test_attempt_in_progress
CREATE INDEX idx_test_attempts_user_exam_status
    ON test_attempts (user_id, exam_id, status, started_at);
-- down
DROP INDEX idx_test_attempts_user_exam_status;
DROP INDEX idx_test_attempts_user_exam;
DROP INDEX idx_study_sessions_user_exam_status;
DROP INDEX idx_study_sessions_user_exam;
