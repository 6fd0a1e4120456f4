-- edgeopt:step id=bank_version
-- A version number of the question bank, moved by triggers whenever a question is added,
-- removed, or changes what makes it a study candidate (exam, objective, difficulty,
-- is_active, review_status, id).
-- A practice pick samples from every candidate id of an exam; listing those ids costs time
-- in proportion to the bank (about 1 ms for 9,000 candidates). StudyQueries keeps each
-- exam's candidate ids in process and reads this number in the same statement as the
-- user's recent answers: the same number means the same candidates, so the ids are listed
-- again only after the bank changed. Answering does not move it: answers rewrite
-- total_attempts, correct_attempts and avg_time_seconds, which the update trigger ignores.
-- The first number is random, so a number kept from before a rollback and a new apply
-- cannot match by chance of both starting at the same value.
-- up
CREATE TABLE study_bank_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);

INSERT INTO study_bank_version (id, version) VALUES (1, random());

CREATE TRIGGER study_bank_after_insert AFTER INSERT ON questions
BEGIN
    UPDATE study_bank_version SET version = version + 1;
END;

CREATE TRIGGER study_bank_after_delete AFTER DELETE ON questions
BEGIN
    UPDATE study_bank_version SET version = version + 1;
END;

CREATE TRIGGER study_bank_after_update
AFTER UPDATE OF id, exam_id, objective_id, difficulty, is_active, review_status ON questions
BEGIN
    UPDATE study_bank_version SET version = version + 1;
END;
-- down
DROP TRIGGER study_bank_after_update;
DROP TRIGGER study_bank_after_delete;
DROP TRIGGER study_bank_after_insert;
DROP TABLE study_bank_version;
