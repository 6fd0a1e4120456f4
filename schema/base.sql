-- edgeopt reference schema: the study flow of an exam-prep platform and its growth dashboard.
-- This is the "before": only primary keys and UNIQUE constraints are indexed.
-- Timestamps are TEXT in SQLite's 'YYYY-MM-DD HH:MM:SS' form (UTC), so they compare with
-- datetime('now', ...) directly; dates are 'YYYY-MM-DD'. JSON columns hold JSON text.
-- Every statement is idempotent (IF NOT EXISTS): `edgeopt init` may run it any number of times.

CREATE TABLE IF NOT EXISTS users (
    id              INTEGER PRIMARY KEY,
    email           TEXT    NOT NULL UNIQUE,
    name            TEXT    NOT NULL,
    display_name    TEXT,
    role            TEXT    NOT NULL DEFAULT 'student' CHECK (role IN ('student', 'author', 'admin')),
    is_active       INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    timezone        TEXT,
    created_at      TEXT    NOT NULL DEFAULT (datetime('now')),
    last_login_at   TEXT
);

CREATE TABLE IF NOT EXISTS exams (
    id              INTEGER PRIMARY KEY,
    code            TEXT    NOT NULL UNIQUE,
    name            TEXT    NOT NULL,
    vendor          TEXT,
    description     TEXT,
    passing_score   REAL,
    time_limit_minutes INTEGER,
    is_active       INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    created_at      TEXT    NOT NULL DEFAULT (datetime('now'))
);

-- Exam domains; parent_id builds the hierarchy (domain > task > sub-task).
CREATE TABLE IF NOT EXISTS objectives (
    id              INTEGER PRIMARY KEY,
    exam_id         INTEGER NOT NULL REFERENCES exams (id) ON DELETE CASCADE,
    parent_id       INTEGER REFERENCES objectives (id) ON DELETE CASCADE,
    code            TEXT    NOT NULL,
    name            TEXT    NOT NULL,
    weight          REAL,
    sort_order      INTEGER NOT NULL DEFAULT 0,
    UNIQUE (exam_id, code)
);

CREATE TABLE IF NOT EXISTS questions (
    id              INTEGER PRIMARY KEY,
    exam_id         INTEGER NOT NULL REFERENCES exams (id) ON DELETE CASCADE,
    objective_id    INTEGER REFERENCES objectives (id) ON DELETE SET NULL,
    text            TEXT    NOT NULL,
    type            TEXT    NOT NULL DEFAULT 'single' CHECK (type IN ('single', 'multiple', 'true_false')),
    answers         TEXT    NOT NULL,             -- JSON: [{"key": "A", "text": ..., "correct": bool}]
    explanation     TEXT,
    reference       TEXT,
    tags            TEXT,                         -- JSON array of strings
    difficulty      INTEGER NOT NULL DEFAULT 3 CHECK (difficulty BETWEEN 1 AND 5),
    is_active       INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    review_status   TEXT    NOT NULL DEFAULT 'pending'
                    CHECK (review_status IN ('pending', 'approved', 'rejected', 'needs_revision')),
    total_attempts  INTEGER NOT NULL DEFAULT 0,
    correct_attempts INTEGER NOT NULL DEFAULT 0,
    avg_time_seconds REAL,
    created_at      TEXT    NOT NULL DEFAULT (datetime('now')),
    updated_at      TEXT    NOT NULL DEFAULT (datetime('now'))
);

CREATE TABLE IF NOT EXISTS study_sessions (
    id              INTEGER PRIMARY KEY,
    user_id         INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    exam_id         INTEGER NOT NULL REFERENCES exams (id) ON DELETE CASCADE,
    mode            TEXT    NOT NULL DEFAULT 'practice'
                    CHECK (mode IN ('practice', 'review', 'speed_drill', 'weak_areas', 'custom')),
    status          TEXT    NOT NULL DEFAULT 'active'
                    CHECK (status IN ('active', 'completed', 'abandoned')),
    total_questions INTEGER NOT NULL DEFAULT 0,
    answered_count  INTEGER NOT NULL DEFAULT 0,
    correct_count   INTEGER NOT NULL DEFAULT 0,
    accuracy        REAL,
    avg_time_seconds REAL,
    objective_scores TEXT,                        -- JSON: {"<objective_id>": {"answered", "correct", "accuracy"}}
    started_at      TEXT    NOT NULL DEFAULT (datetime('now')),
    completed_at    TEXT
);

CREATE TABLE IF NOT EXISTS test_attempts (
    id              INTEGER PRIMARY KEY,
    user_id         INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    exam_id         INTEGER NOT NULL REFERENCES exams (id) ON DELETE CASCADE,
    status          TEXT    NOT NULL DEFAULT 'in_progress'
                    CHECK (status IN ('in_progress', 'completed', 'abandoned')),
    total_questions INTEGER NOT NULL DEFAULT 0,
    correct_count   INTEGER NOT NULL DEFAULT 0,
    score           REAL,
    passed          INTEGER CHECK (passed IN (0, 1)),
    time_spent_seconds INTEGER,
    started_at      TEXT    NOT NULL DEFAULT (datetime('now')),
    completed_at    TEXT
);

CREATE TABLE IF NOT EXISTS user_answers (
    id              INTEGER PRIMARY KEY,
    user_id         INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    question_id     INTEGER NOT NULL REFERENCES questions (id) ON DELETE CASCADE,
    study_session_id INTEGER REFERENCES study_sessions (id) ON DELETE SET NULL,
    test_attempt_id INTEGER REFERENCES test_attempts (id) ON DELETE SET NULL,
    selected_answer TEXT    NOT NULL,
    is_correct      INTEGER NOT NULL CHECK (is_correct IN (0, 1)),
    time_spent_seconds INTEGER CHECK (time_spent_seconds >= 0),
    confidence_level INTEGER CHECK (confidence_level BETWEEN 1 AND 5),
    flagged         INTEGER NOT NULL DEFAULT 0 CHECK (flagged IN (0, 1)),
    attempt_number  INTEGER NOT NULL DEFAULT 1,
    answered_at     TEXT    NOT NULL DEFAULT (datetime('now')),
    client_answer_id TEXT   UNIQUE                -- idempotency key of the client's write
);

CREATE TABLE IF NOT EXISTS user_progress (
    id              INTEGER PRIMARY KEY,
    user_id         INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    exam_id         INTEGER NOT NULL REFERENCES exams (id) ON DELETE CASCADE,
    questions_answered INTEGER NOT NULL DEFAULT 0,
    correct_answers INTEGER NOT NULL DEFAULT 0,
    accuracy        REAL,
    current_streak  INTEGER NOT NULL DEFAULT 0,
    best_streak     INTEGER NOT NULL DEFAULT 0,
    study_time_seconds INTEGER NOT NULL DEFAULT 0,
    readiness_score REAL,
    last_studied_at TEXT,
    updated_at      TEXT    NOT NULL DEFAULT (datetime('now')),
    UNIQUE (user_id, exam_id)
);

-- The social-growth dashboard.
CREATE TABLE IF NOT EXISTS twitter_accounts (
    id              INTEGER PRIMARY KEY,
    handle          TEXT    NOT NULL UNIQUE,
    display_name    TEXT,
    is_active       INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    created_at      TEXT    NOT NULL DEFAULT (datetime('now'))
);

CREATE TABLE IF NOT EXISTS tweets (
    id              INTEGER PRIMARY KEY,
    account_id      INTEGER NOT NULL REFERENCES twitter_accounts (id) ON DELETE CASCADE,
    external_id     TEXT    UNIQUE,
    text            TEXT    NOT NULL,
    kind            TEXT    NOT NULL DEFAULT 'post' CHECK (kind IN ('post', 'reply', 'thread')),
    impressions     INTEGER NOT NULL DEFAULT 0,
    likes           INTEGER NOT NULL DEFAULT 0,
    retweets        INTEGER NOT NULL DEFAULT 0,
    replies         INTEGER NOT NULL DEFAULT 0,
    ai_cost         REAL,
    posted_at       TEXT    NOT NULL
);

-- One row per account per day.
CREATE TABLE IF NOT EXISTS growth_metrics (
    id              INTEGER PRIMARY KEY,
    account_id      INTEGER NOT NULL REFERENCES twitter_accounts (id) ON DELETE CASCADE,
    date            TEXT    NOT NULL,
    followers       INTEGER NOT NULL DEFAULT 0,
    new_followers   INTEGER NOT NULL DEFAULT 0,
    impressions     INTEGER NOT NULL DEFAULT 0,
    engagements     INTEGER NOT NULL DEFAULT 0,
    ai_costs        REAL    NOT NULL DEFAULT 0,
    UNIQUE (account_id, date)
);

CREATE TABLE IF NOT EXISTS engagement_opportunities (
    id              INTEGER PRIMARY KEY,
    account_id      INTEGER NOT NULL REFERENCES twitter_accounts (id) ON DELETE CASCADE,
    source_tweet_id TEXT,
    author_handle   TEXT,
    text            TEXT    NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'approved', 'replied', 'skipped', 'expired')),
    relevance_score REAL,
    suggested_reply TEXT,
    created_at      TEXT    NOT NULL DEFAULT (datetime('now')),
    acted_at        TEXT
);
