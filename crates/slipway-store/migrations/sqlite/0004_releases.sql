-- Releases: one row per deployment to an environment (deploy jobs, release
-- runs, rollbacks), SQLite flavour. Append-only: triggers refuse UPDATE and
-- DELETE. The PostgreSQL file of the same number holds the same table;
-- column meanings are documented in src/sql/mod.rs.

CREATE TABLE releases (
    id             INTEGER PRIMARY KEY,
    project_id     INTEGER NOT NULL REFERENCES projects(id),
    run_id         INTEGER REFERENCES runs(id),
    job_key        TEXT NOT NULL,
    environment    TEXT NOT NULL,
    digest         TEXT NOT NULL,
    artifact_name  TEXT NOT NULL,
    kind           TEXT NOT NULL,
    outcome        TEXT NOT NULL,
    commit_sha     TEXT,
    commit_time_ms INTEGER,
    started_ms     INTEGER NOT NULL,
    finished_ms    INTEGER NOT NULL,
    record         TEXT NOT NULL,
    recorded_ms    INTEGER NOT NULL
);
-- A project's releases by environment (listing, the last successful one).
CREATE INDEX releases_by_environment ON releases (project_id, environment, id);
-- Whether a digest was released successfully (promotion's `requires`).
CREATE INDEX releases_by_digest ON releases (project_id, digest, outcome, id);
CREATE TRIGGER releases_no_update BEFORE UPDATE ON releases
BEGIN
    SELECT RAISE(ABORT, 'releases is append-only');
END;
CREATE TRIGGER releases_no_delete BEFORE DELETE ON releases
BEGIN
    SELECT RAISE(ABORT, 'releases is append-only');
END;
