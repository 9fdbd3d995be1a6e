-- Gate-side state of the agent (issue 4). The replica tables of 0001
-- (cursors, keys, tickets, used) are filled by the fleet stream; the tables
-- below are the agent's own.

-- The per-ticket rotating-code (TOTP) secret. It lives in the allowlist and
-- never in the static code, so a screenshot of the static part is useless.
-- NULL: the ticket has no rotating code.
ALTER TABLE tickets ADD COLUMN code_secret BLOB;

-- Journal extras: which way the holder went, which reader saw the
-- credential, and whether staff forced the decision.
ALTER TABLE journal ADD COLUMN direction TEXT NOT NULL DEFAULT 'in';
ALTER TABLE journal ADD COLUMN source TEXT NOT NULL DEFAULT '';
ALTER TABLE journal ADD COLUMN forced INTEGER NOT NULL DEFAULT 0;

-- Passages with direction: this gate's own admissions and exits and those
-- gossiped by peer gates on the LAN. A row here wins over the used row of
-- the same (event, ticket, device, at), which carries no direction and no
-- annulment.
CREATE TABLE marks (
	event_id  TEXT NOT NULL,
	ticket_id TEXT NOT NULL,
	device    TEXT NOT NULL,
	at        INTEGER NOT NULL,
	gate      TEXT NOT NULL,
	direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
	annulled  INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (event_id, ticket_id, device, at)
) WITHOUT ROWID;
CREATE INDEX marks_by_device ON marks (device, at);

-- Admissions waiting for the turnstile to turn. A row left here after a
-- crash is an admission nobody confirmed: startup annuls it.
CREATE TABLE pending_passages (
	seq       INTEGER PRIMARY KEY,
	event_id  TEXT NOT NULL,
	ticket_id TEXT NOT NULL,
	at        INTEGER NOT NULL,
	deadline  INTEGER NOT NULL
);

-- Things that happened to the gate rather than to a ticket: mode switches
-- (online/offline), restarts with annulled passages.
CREATE TABLE gate_log (
	id     INTEGER PRIMARY KEY AUTOINCREMENT,
	at     INTEGER NOT NULL,
	kind   TEXT NOT NULL,
	detail TEXT NOT NULL DEFAULT ''
);
