-- What the server keeps for restarts, triggers and operations, SQLite
-- flavour. The PostgreSQL file of the same number holds the same tables;
-- column meanings are documented in src/sql/mod.rs.

-- The pipeline file a run was started with, so a restarted server (or a
-- retry) plans from the same text even after the branch moved on.
CREATE TABLE run_pipelines (
    run_id INTEGER PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
    file   TEXT NOT NULL,
    source TEXT NOT NULL
);

-- Runs across projects by status (active runs, metrics, filtered listing).
CREATE INDEX runs_by_status_id ON runs (status, id);

CREATE TABLE webhook_deliveries (
    id          INTEGER PRIMARY KEY,
    project_id  INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    forge       TEXT NOT NULL,
    event       TEXT NOT NULL,
    delivery_id TEXT,
    result      TEXT NOT NULL,
    message     TEXT,
    run_ids     TEXT NOT NULL,
    received_ms INTEGER NOT NULL
);
CREATE INDEX webhook_deliveries_by_project ON webhook_deliveries (project_id, id);

CREATE TABLE trigger_state (
    project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    state_key  TEXT NOT NULL,
    value      TEXT NOT NULL,
    updated_ms INTEGER NOT NULL,
    PRIMARY KEY (project_id, state_key)
);
