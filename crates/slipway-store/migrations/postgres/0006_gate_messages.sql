-- What an approval gate asks the people deciding it: its `message:`
-- rendered by the agent (secrets masked), or a canary pause's question.
-- NULL when the gate has none or was opened before this column existed.
ALTER TABLE approval_gates ADD COLUMN message TEXT;
