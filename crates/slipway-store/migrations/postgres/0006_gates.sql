-- Approval gates, continued.
--
-- `message`: what the gate asks the people deciding it, its `message:`
-- rendered by the agent (secrets masked) or a canary pause's question;
-- NULL when the gate has none or was opened before this column existed.
ALTER TABLE approval_gates ADD COLUMN message TEXT;

-- `vote_count`: the votes stored, kept by the vote's own transaction. A
-- decision names the count it was made from and is refused when more votes
-- arrived meanwhile (a column of the gate's row, so PostgreSQL re-checks it
-- on the newest row version after waiting for a voter's lock; a subquery
-- would see the statement's snapshot and miss the vote).
ALTER TABLE approval_gates ADD COLUMN vote_count INTEGER NOT NULL DEFAULT 0;
UPDATE approval_gates SET vote_count =
    (SELECT COUNT(*) FROM approval_votes WHERE approval_votes.gate_id = approval_gates.id);
