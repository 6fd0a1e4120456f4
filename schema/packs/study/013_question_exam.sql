-- edgeopt:step id=question_exam_index
-- The exam of a question, index-only. A user's answers on one exam (the week's count of
-- user progress, each leaderboard user's weekly activity) are a range of
-- idx_user_answers_user_time joined to questions by id to keep the exam's; by the INTEGER
-- PRIMARY KEY every answer reads a row of the wide questions table (its text), by this
-- narrow (id, exam_id) index a few hundred pages in all. Both planners take it without
-- being told. Measured at medium scale, 4,088 answers of the heaviest user's week: SQLite
-- 6.5 -> 1.8 ms, the Turso engine 9.5 -> 3.1 ms. Not partial: answers on retired
-- questions count too.
-- up
-- serves: user_progress_week
CREATE INDEX idx_questions_exam_of
    ON questions (id, exam_id);
-- down
DROP INDEX idx_questions_exam_of;
