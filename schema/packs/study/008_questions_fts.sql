-- edgeopt:step id=questions_fts needs=fts5
-- Full-text search over the question bank: an external-content FTS5 table over
-- questions (text, explanation, reference), kept in step by triggers.
-- External content: the FTS table stores only the index, the text stays in questions
-- (no second copy of the bank). It mirrors every row of questions, drafts included,
-- because FTS5 integrity-check compares it with the whole content table. The search
-- query joins questions and filters exam, is_active and review_status there.
-- Tokenizer 'porter unicode61 remove_diacritics 2': unicode61 folds case and strips
-- diacritics (non-ASCII names and terms in references), porter stems English words so
-- that "configuring" finds "configure" and "policies" finds "policy". Question banks
-- are English prose, where stemming helps recall. bm25 ranks and snippet shows context.
-- Triggers use the FTS5 'delete' command with the OLD values (explanation and reference
-- may be NULL, passed as they are). A plain DELETE or UPDATE on an external-content FTS
-- table would corrupt it. The update trigger fires only on changes of id, text,
-- explanation or reference: answering a question rewrites total_attempts,
-- correct_attempts and avg_time_seconds, and reindexing the text on each answer would be
-- pure churn. id is listed because a changed rowid must move the FTS entry.
-- INSERT OR REPLACE on questions fires the delete trigger only with
-- PRAGMA recursive_triggers on. Writers use INSERT ... ON CONFLICT DO UPDATE
-- (an UPDATE, so the update trigger fires). 'integrity-check' proves the table
-- is consistent and 'rebuild' repairs it.
-- up
CREATE VIRTUAL TABLE questions_fts USING fts5(
    text,
    explanation,
    reference,
    content='questions',
    content_rowid='id',
    tokenize='porter unicode61 remove_diacritics 2'
);

-- Index the rows questions holds now, read from the content table.
INSERT INTO questions_fts (questions_fts) VALUES ('rebuild');

CREATE TRIGGER questions_fts_after_insert AFTER INSERT ON questions
BEGIN
    INSERT INTO questions_fts (rowid, text, explanation, reference)
    VALUES (new.id, new.text, new.explanation, new.reference);
END;

CREATE TRIGGER questions_fts_after_delete AFTER DELETE ON questions
BEGIN
    INSERT INTO questions_fts (questions_fts, rowid, text, explanation, reference)
    VALUES ('delete', old.id, old.text, old.explanation, old.reference);
END;

CREATE TRIGGER questions_fts_after_update AFTER UPDATE OF id, text, explanation, reference ON questions
BEGIN
    INSERT INTO questions_fts (questions_fts, rowid, text, explanation, reference)
    VALUES ('delete', old.id, old.text, old.explanation, old.reference);
    INSERT INTO questions_fts (rowid, text, explanation, reference)
    VALUES (new.id, new.text, new.explanation, new.reference);
END;
-- down
DROP TRIGGER questions_fts_after_update;
DROP TRIGGER questions_fts_after_delete;
DROP TRIGGER questions_fts_after_insert;
-- Dropping the FTS5 table drops its shadow tables (_data, _idx, _docsize, _config).
DROP TABLE questions_fts;
