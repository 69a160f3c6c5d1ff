-- Slipway server schema, SQLite flavour. The PostgreSQL file of the same
-- number holds the same tables; column meanings are documented in
-- src/sql/mod.rs. Times are milliseconds since the Unix epoch.

CREATE TABLE projects (
    id                 INTEGER PRIMARY KEY,
    name               TEXT NOT NULL UNIQUE,
    repo_url           TEXT NOT NULL,
    default_branch     TEXT NOT NULL,
    settings           TEXT NOT NULL,
    webhook_nonce      BLOB,
    webhook_ciphertext BLOB,
    next_run_number    INTEGER NOT NULL DEFAULT 1,
    created_ms         INTEGER NOT NULL
);

CREATE TABLE runs (
    id             INTEGER PRIMARY KEY,
    project_id     INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    number         INTEGER NOT NULL,
    status         TEXT NOT NULL,
    reason         TEXT,
    trigger_kind   TEXT NOT NULL,
    branch         TEXT,
    tag            TEXT,
    commit_sha     TEXT,
    inputs         TEXT NOT NULL,
    created_ms     INTEGER NOT NULL,
    started_ms     INTEGER,
    finished_ms    INTEGER,
    next_event_seq INTEGER NOT NULL DEFAULT 1,
    UNIQUE (project_id, number)
);
CREATE INDEX runs_by_status ON runs (project_id, status, number);
CREATE INDEX runs_by_branch ON runs (project_id, branch, number);

CREATE TABLE jobs (
    id               INTEGER PRIMARY KEY,
    run_id           INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    job_key          TEXT NOT NULL,
    labels           TEXT NOT NULL,
    status           TEXT NOT NULL,
    agent            TEXT,
    lease_expires_ms INTEGER,
    attempt          INTEGER NOT NULL,
    reason           TEXT,
    queued_ms        INTEGER NOT NULL,
    started_ms       INTEGER,
    finished_ms      INTEGER,
    UNIQUE (run_id, job_key)
);
CREATE INDEX jobs_queue ON jobs (status, queued_ms, id);
CREATE INDEX jobs_leases ON jobs (status, lease_expires_ms);

CREATE TABLE steps (
    job_id      INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    idx         INTEGER NOT NULL,
    name        TEXT NOT NULL,
    status      TEXT NOT NULL,
    exit_code   INTEGER,
    started_ms  INTEGER,
    finished_ms INTEGER,
    PRIMARY KEY (job_id, idx)
);

CREATE TABLE run_events (
    run_id      INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    record      TEXT NOT NULL,
    recorded_ms INTEGER NOT NULL,
    PRIMARY KEY (run_id, seq)
);
CREATE TRIGGER run_events_append_only BEFORE UPDATE ON run_events
BEGIN
    SELECT RAISE(ABORT, 'run_events is append-only');
END;

CREATE TABLE artifacts (
    job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    name   TEXT NOT NULL,
    path   TEXT NOT NULL,
    digest TEXT NOT NULL,
    size   INTEGER NOT NULL,
    kind   TEXT NOT NULL,
    PRIMARY KEY (job_id, name)
);

CREATE TABLE test_results (
    id             INTEGER PRIMARY KEY,
    job_id         INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    run_id         INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    project_id     INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    commit_sha     TEXT,
    suite          TEXT NOT NULL,
    classname      TEXT NOT NULL,
    name           TEXT NOT NULL,
    outcome        TEXT NOT NULL,
    time_seconds   REAL,
    message        TEXT,
    flaky_attempts INTEGER NOT NULL
);
CREATE INDEX test_results_by_test ON test_results (project_id, suite, classname, name);
CREATE INDEX test_results_by_job ON test_results (job_id);

CREATE TABLE users (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    is_admin   BOOLEAN NOT NULL,
    created_ms INTEGER NOT NULL
);

CREATE TABLE tokens (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    kind         TEXT NOT NULL,
    hash         BLOB NOT NULL UNIQUE,
    created_ms   INTEGER NOT NULL,
    last_used_ms INTEGER,
    revoked_ms   INTEGER
);

CREATE TABLE project_roles (
    project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role       TEXT NOT NULL,
    PRIMARY KEY (project_id, user_id)
);

CREATE TABLE secrets (
    project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    nonce      BLOB NOT NULL,
    ciphertext BLOB NOT NULL,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    PRIMARY KEY (project_id, name)
);

CREATE TABLE audit_log (
    seq       INTEGER PRIMARY KEY,
    at_ms     INTEGER NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    target    TEXT NOT NULL,
    details   TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
