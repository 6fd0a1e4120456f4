-- edgeopt:step id=analyze_stats requires=questions_indexes,answers_indexes,sessions_attempts_indexes,progress_indexes,objectives_indexes,growth_indexes,engagement_indexes needs=analyze
-- Statistics for the planner: without sqlite_stat1 rows a new index is costed by
-- guesses and can be passed over. ANALYZE of each table the pack indexed (not the FTS
-- table, which the planner does not cost with sqlite_stat1).
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
ANALYZE growth_metrics;
ANALYZE tweets;
ANALYZE engagement_opportunities;
-- down
DELETE FROM sqlite_stat1
WHERE tbl IN ('questions', 'user_answers', 'study_sessions', 'test_attempts', 'user_progress',
              'objectives', 'growth_metrics', 'tweets', 'engagement_opportunities')
  AND idx IN ('idx_questions_study_candidates', 'idx_questions_speed_drill',
              'idx_questions_review_pending', 'idx_questions_objective',
              'idx_user_answers_user_question_time', 'idx_user_answers_user_time',
              'idx_user_answers_wrong', 'idx_user_answers_session', 'idx_user_answers_attempt',
              'idx_user_answers_question_stats',
              'idx_study_sessions_user_exam', 'idx_study_sessions_user_exam_status',
              'idx_test_attempts_user_exam', 'idx_test_attempts_user_exam_status',
              'idx_user_progress_leaderboard',
              'idx_objectives_roots', 'idx_objectives_children',
              'idx_growth_metrics_timeseries', 'idx_tweets_account_posted',
              'idx_engagement_pending', 'idx_engagement_acted');
