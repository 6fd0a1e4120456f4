-- edgeopt:step id=answers_indexes needs=partial_indexes
-- Indexes on user_answers, the table that grows with every answer.
-- Most are covering for their queries (SQLite has no INCLUDE, so the payload columns
-- are appended to the key): those reads never touch the table rows.
-- Time windows (answered in the last N hours, this week) stay in the queries: a partial
-- index predicate must be deterministic, so the indexes hold (user_id, answered_at).
-- up
-- The NOT EXISTS probe of every study query: has this user answered this question
-- since the cutoff. Equality on (user_id, question_id) and a range on answered_at.
-- is_correct is appended so the weak-areas rates and the review "answered correctly
-- since" probe are index-only too.
-- serves: study_questions
CREATE INDEX idx_user_answers_user_question_time
    ON user_answers (user_id, question_id, answered_at, is_correct);

-- The answers of a user in time order. id follows answered_at so that the order
-- (answered_at, id) is exactly the keyset of the answer history, read in index order
-- with no sort. question_id and is_correct make the streak, recent-answer
-- and weekly-activity reads index-only.
-- Also used by recent_answers_exclusion, user_progress_streak, leaderboard_weekly_activity.
-- serves: answer_history_keyset
CREATE INDEX idx_user_answers_user_time
    ON user_answers (user_id, answered_at, id, question_id, is_correct);

-- Review mode: only the wrong answers (about a third of the rows), per user and question.
-- is_correct is constant in this index, but the query names the column, and SQLite
-- counts an index as covering only when it holds every column the query reads.
-- serves: review_wrong_answers
CREATE INDEX idx_user_answers_wrong
    ON user_answers (user_id, question_id, answered_at, is_correct)
    WHERE is_correct = 0;

-- The answers of a session, aggregated per objective while the session runs. Answers outside
-- a session (test attempts) have no study_session_id and are left out. It is also the
-- child-key index of the study_sessions ON DELETE SET NULL foreign key.
-- serves: session_progress
CREATE INDEX idx_user_answers_session
    ON user_answers (study_session_id, question_id, is_correct, time_spent_seconds)
    WHERE study_session_id IS NOT NULL;

-- The same for a test attempt (scoring and the per-objective result page).
-- serves: test_attempt_results
CREATE INDEX idx_user_answers_attempt
    ON user_answers (test_attempt_id, question_id, is_correct, time_spent_seconds)
    WHERE test_attempt_id IS NOT NULL;

-- Statistics of one question (attempts, success rate, average time), and the child-key
-- index of the questions ON DELETE CASCADE foreign key.
-- serves: question_stats
CREATE INDEX idx_user_answers_question_stats
    ON user_answers (question_id, is_correct, time_spent_seconds);
-- down
DROP INDEX idx_user_answers_question_stats;
DROP INDEX idx_user_answers_attempt;
DROP INDEX idx_user_answers_session;
DROP INDEX idx_user_answers_wrong;
DROP INDEX idx_user_answers_user_time;
DROP INDEX idx_user_answers_user_question_time;
