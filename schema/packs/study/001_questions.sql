-- edgeopt:step id=questions_indexes needs=partial_indexes
-- Indexes on questions for picking study candidates.
-- Every study mode reads only active, approved questions of one exam, so the candidate
-- indexes are partial on exactly that predicate: they skip drafts, rejected and retired
-- questions and stay small. The query must repeat the predicate literally
-- (is_active = 1 AND review_status = 'approved') for SQLite to use them.
-- No index here holds total_attempts / correct_attempts / avg_time_seconds: those counters
-- change on every answer, and an index on them would be rewritten on every answer.
-- up
-- Candidates of an exam narrowed by objective, then by a difficulty range.
-- is_active and review_status are constant in the index but appended to the key: SQLite
-- counts an index as covering only if it holds every column the query names, and the
-- query names them to match the partial predicate. Covering, the random pick of the
-- candidates reads only the index, and the table only for the rows picked.
-- Also used by study_questions_weak_areas (candidates joined to objective rates).
-- serves: study_questions
CREATE INDEX idx_questions_study_candidates
    ON questions (exam_id, objective_id, difficulty, is_active, review_status)
    WHERE is_active = 1 AND review_status = 'approved';

-- Speed drill walks the candidates of an exam in difficulty order (easy first) and stops at
-- the LIMIT, so difficulty comes right after exam_id.
-- The two constant columns are appended for covering, as above.
-- serves: study_questions_speed_drill
CREATE INDEX idx_questions_speed_drill
    ON questions (exam_id, difficulty, is_active, review_status)
    WHERE is_active = 1 AND review_status = 'approved';

-- Review queue of the authors: the pending questions of an exam, oldest first.
-- serves: question_review_queue
CREATE INDEX idx_questions_review_pending
    ON questions (exam_id, created_at)
    WHERE review_status = 'pending';

-- Questions of one objective. It is also the child-key index of the
-- objectives ON DELETE SET NULL foreign key, which otherwise scans questions
-- for every deleted objective. NULL objectives are never looked up.
-- serves: objective_questions
CREATE INDEX idx_questions_objective
    ON questions (objective_id, difficulty)
    WHERE objective_id IS NOT NULL;
-- down
DROP INDEX idx_questions_objective;
DROP INDEX idx_questions_review_pending;
DROP INDEX idx_questions_speed_drill;
DROP INDEX idx_questions_study_candidates;
