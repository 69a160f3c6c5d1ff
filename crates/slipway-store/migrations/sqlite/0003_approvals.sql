-- Approval gates and who started a run, SQLite flavour. The PostgreSQL file
-- of the same number holds the same tables; column meanings are documented
-- in src/sql/mod.rs.

-- Who started the run: the token's user of a manual run or a retry, the
-- forge's sender of a webhook run; NULL when nobody in particular (cron,
-- polling) or for runs stored before this column existed.
ALTER TABLE runs ADD COLUMN triggered_by TEXT;

CREATE TABLE approval_gates (
    id          INTEGER PRIMARY KEY,
    run_id      INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    job_key     TEXT NOT NULL,
    gate        TEXT NOT NULL,
    required    INTEGER NOT NULL CHECK (required >= 1),
    opened_ms   INTEGER NOT NULL,
    deadline_ms INTEGER NOT NULL,
    state       TEXT NOT NULL DEFAULT 'pending'
                CHECK (state IN ('pending', 'approved', 'rejected', 'timed_out')),
    decision    TEXT,
    decided_ms  INTEGER,
    UNIQUE (run_id, job_key, gate)
);
-- Pending gates past their deadline (the server's tick).
CREATE INDEX approval_gates_by_state ON approval_gates (state, deadline_ms);

CREATE TABLE approval_votes (
    id        INTEGER PRIMARY KEY,
    gate_id   INTEGER NOT NULL REFERENCES approval_gates(id) ON DELETE CASCADE,
    user_name TEXT NOT NULL,
    approved  BOOLEAN NOT NULL,
    comment   TEXT,
    inputs    TEXT NOT NULL,
    at_ms     INTEGER NOT NULL,
    UNIQUE (gate_id, user_name)
);
