-- edgeopt:step id=search_version requires=bank_version needs=!fts5
-- The bank's version also moves when a question's searched text changes, on engines without
-- FTS5 (the Turso engine), where search is LIKE '%word%' over text, explanation and
-- reference. A LIKE reads every searched row of the exam: at 100,000 questions about 35 ms
-- on the Turso engine, 15 of them only to read the rows. With this trigger, StudyQueries
-- keeps each searched exam's text in process (ASCII case folded, as LIKE compares) and
-- answers the same LIKE in memory: the version read with the page's rows says the kept
-- text is current, and a changed bank is read again. Answers never move the version.
-- Skipped where FTS5 serves the search.
-- up
CREATE TRIGGER study_bank_after_text_update
AFTER UPDATE OF text, explanation, reference ON questions
BEGIN
    UPDATE study_bank_version SET version = version + 1;
END;
-- down
DROP TRIGGER study_bank_after_text_update;
