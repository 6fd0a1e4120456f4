-- edgeopt:step id=search_filter needs=partial_indexes,fts5
-- The exam and status filter of the FTS search, as a narrow index keyed by question id.
-- The search matches in the FTS index of every exam, then keeps the matches of one exam
-- that are active and approved. The planner checks each match against questions by
-- INTEGER PRIMARY KEY: a lookup in the table, whose rows carry the text, so a common word
-- matched in 5,800 questions bank-wide reads about as many table pages (measured at
-- 100,000 questions: 8.5 ms of a 10.5 ms search). This index holds only (id, exam_id) of
-- the searchable questions, a few hundred pages, and the search names it (INDEXED BY):
-- the same check costs 2.1 ms. Questions that are retired, drafts or rejected are not in
-- it, so it answers "active and approved" by being absent. Skipped with the FTS step on
-- engines without FTS5, where nothing would use it.
-- up
-- serves: search_questions
CREATE INDEX idx_questions_search_filter
    ON questions (id, exam_id)
    WHERE is_active = 1 AND review_status = 'approved';
-- down
DROP INDEX idx_questions_search_filter;
