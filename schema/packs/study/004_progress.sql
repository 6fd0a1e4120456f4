-- edgeopt:step id=progress_indexes needs=partial_indexes
-- The leaderboard of an exam: user_progress rows in readiness order.
-- UNIQUE (user_id, exam_id) of base.sql already serves the lookups of one user.
-- up
-- Rows without a readiness score are not ranked, so they are left out. The DESC key
-- matches ORDER BY readiness_score DESC, user_id with no sort step, and the
-- LIMIT stops the walk after one page. Also used by leaderboard_weekly_activity
-- (the users of a page).
-- serves: leaderboard
CREATE INDEX idx_user_progress_leaderboard
    ON user_progress (exam_id, readiness_score DESC, user_id)
    WHERE readiness_score IS NOT NULL;
-- down
DROP INDEX idx_user_progress_leaderboard;
