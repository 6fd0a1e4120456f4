-- edgeopt:step id=analyze_stats requires=questions_indexes,answers_indexes,sessions_attempts_indexes,progress_indexes,objectives_indexes needs=analyze supersedes=8a19f84889b462b755843795fb4b7f17e02e2f51b0c622ac6efe21bcc647c05a
-- Statistics for the planner: without sqlite_stat1 rows a new index is costed by
-- guesses and can be passed over. ANALYZE of each study table the pack indexed (not the
-- FTS table, which the planner does not cost with sqlite_stat1); the social-growth tables
-- get theirs in analyze_growth_stats, so a database without them still gets these.
-- An earlier version of this file analyzed the growth tables too: supersedes= names its
-- checksum, so a database that applied it shows no drift (its recorded down SQL undoes it).
-- Down removes the rows of the indexes of this pack. The rows of the base.sql indexes stay
-- (fresher statistics of existing indexes are harmless). The engine drops sqlite_stat1
-- itself when this step created it.
-- up
ANALYZE questions;
ANALYZE user_answers;
ANALYZE study_sessions;
ANALYZE test_attempts;
ANALYZE user_progress;
ANALYZE objectives;
-- down
DELETE FROM sqlite_stat1
WHERE tbl IN ('questions', 'user_answers', 'study_sessions', 'test_attempts', 'user_progress',
              'objectives')
  AND idx IN ('idx_questions_study_candidates', 'idx_questions_speed_drill',
              'idx_questions_review_pending', 'idx_questions_objective',
              'idx_user_answers_user_question_time', 'idx_user_answers_user_time',
              'idx_user_answers_wrong', 'idx_user_answers_session', 'idx_user_answers_attempt',
              'idx_user_answers_question_stats',
              'idx_study_sessions_user_exam', 'idx_study_sessions_user_exam_status',
              'idx_test_attempts_user_exam', 'idx_test_attempts_user_exam_status',
              'idx_user_progress_leaderboard',
              'idx_objectives_roots', 'idx_objectives_children');
