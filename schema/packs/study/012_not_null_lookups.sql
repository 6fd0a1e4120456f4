-- edgeopt:step id=not_null_lookups requires=questions_indexes,answers_indexes needs=partial_indexes,!implied_not_null
-- The lookups by a nullable key, as full indexes, on engines whose planner does not infer
-- "x IS NOT NULL" from "x = ?" (the Turso engine). The three partial indexes WHERE
-- x IS NOT NULL of questions_indexes and answers_indexes serve "WHERE x = ?" on SQLite;
-- the Turso engine uses them only when the query also says "x IS NOT NULL", so an app's
-- "WHERE study_session_id = ?" scanned every answer. Each is rebuilt here under the same
-- name without the predicate (the same columns; the NULL rows are few), so the same
-- queries search it on both engines. Down rebuilds the partial indexes exactly as those
-- steps made them. Skipped on SQLite and libSQL, whose planner makes the inference.
-- The Turso engine keeps an index's sqlite_stat1 row across DROP INDEX, so the
-- statistics of analyze_stats stay as they were through up and down.
-- up
-- serves: objective_questions
DROP INDEX idx_questions_objective;
CREATE INDEX idx_questions_objective
    ON questions (objective_id, difficulty);

-- serves: session_progress
DROP INDEX idx_user_answers_session;
CREATE INDEX idx_user_answers_session
    ON user_answers (study_session_id, question_id, is_correct, time_spent_seconds);

-- serves: test_attempt_results
DROP INDEX idx_user_answers_attempt;
CREATE INDEX idx_user_answers_attempt
    ON user_answers (test_attempt_id, question_id, is_correct, time_spent_seconds);
-- down
DROP INDEX idx_user_answers_attempt;
CREATE INDEX idx_user_answers_attempt
    ON user_answers (test_attempt_id, question_id, is_correct, time_spent_seconds)
    WHERE test_attempt_id IS NOT NULL;
DROP INDEX idx_user_answers_session;
CREATE INDEX idx_user_answers_session
    ON user_answers (study_session_id, question_id, is_correct, time_spent_seconds)
    WHERE study_session_id IS NOT NULL;
DROP INDEX idx_questions_objective;
CREATE INDEX idx_questions_objective
    ON questions (objective_id, difficulty)
    WHERE objective_id IS NOT NULL;
