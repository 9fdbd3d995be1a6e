-- Protocol 3: an annulment's journal row names the passage it takes back
-- (its time, Unix ms; 0 for a decision), so the fleet can retract the
-- used mark at every gate.
ALTER TABLE journal ADD COLUMN annuls INTEGER NOT NULL DEFAULT 0;
