-- Venue scopes (issue 11, part of protocol 5): a second change log per
-- event, named '#venue:' || event id, for the data a gate needs about the
-- venue: the keys of the devices that serve the event and its gate staff
-- (hashed PINs). It uses the change_log table like the ticket logs; its
-- state (last seq, running checksum, compaction) is a row of log_scopes,
-- as a ticket log's is its events row.
--
-- change_log's foreign key to events cannot hold a scope's name: SQLite
-- cannot drop a constraint, so the table is rebuilt without it (as
-- PostgreSQL's migration 0005 dropped it). Every append locks its log's
-- state row first and fails when there is none.
CREATE TABLE change_log_new (
	event_id TEXT NOT NULL, -- the log: an event id, or a scope's name
	seq      INTEGER NOT NULL,
	kind     TEXT NOT NULL,
	body     BLOB NOT NULL,
	running  INTEGER NOT NULL,
	PRIMARY KEY (event_id, seq)
) WITHOUT ROWID;
INSERT INTO change_log_new (event_id, seq, kind, body, running) SELECT event_id, seq, kind, body, running FROM change_log;
DROP TABLE change_log;
ALTER TABLE change_log_new RENAME TO change_log;

CREATE TABLE log_scopes (
	scope             TEXT PRIMARY KEY,
	event_id          TEXT NOT NULL REFERENCES events(id),
	last_seq          INTEGER NOT NULL DEFAULT 0,
	running           INTEGER NOT NULL DEFAULT 0,
	compacted_seq     INTEGER NOT NULL DEFAULT 0,
	compacted_running INTEGER NOT NULL DEFAULT 0
);
-- Existing events get their venue scope, empty: the node fills it when it
-- starts (Service.SyncVenues).
INSERT INTO log_scopes (scope, event_id) SELECT '#venue:' || id, id FROM events;

-- The current rows of every venue scope: what its snapshot sends and what
-- the next change is compared with. row_key is kind || '/' || id, the
-- snapshot order.
CREATE TABLE venue_rows (
	scope   TEXT NOT NULL,
	row_key TEXT NOT NULL,
	kind    TEXT NOT NULL,
	id      TEXT NOT NULL,
	data    BLOB NOT NULL,
	PRIMARY KEY (scope, row_key)
) WITHOUT ROWID;

-- Gate staff's sign-in secrets, per event: the argon2id PHC hash of the
-- PIN (bound to the badge's UID when there is a badge) and the badge's
-- lookup hash. An operator is staff of an event while it holds the
-- gate_staff role there (or on all events) and has a row here.
CREATE TABLE staff_credentials (
	event_id   TEXT NOT NULL REFERENCES events(id),
	operator   TEXT NOT NULL REFERENCES operators(name) ON DELETE CASCADE,
	pin_hash   TEXT NOT NULL,
	badge_hash TEXT NOT NULL DEFAULT '',
	set_at     INTEGER NOT NULL,
	set_by     TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (event_id, operator)
);

-- A scan names the gate staff member behind a staff action.
ALTER TABLE scans ADD COLUMN staff TEXT NOT NULL DEFAULT '';
