-- Venue scopes (issue 11, part of protocol 5): a second change log per
-- event, named '#venue:' || event id, for the data a gate needs about the
-- venue: the keys of the devices that serve the event and its gate staff
-- (hashed PINs). It uses the change_log table like the ticket logs (whose
-- foreign key to events went in 0005); its state (last seq, running
-- checksum, compaction) is a row of log_scopes, as a ticket log's is its
-- events row.
CREATE TABLE log_scopes (
	scope             TEXT PRIMARY KEY,
	event_id          TEXT NOT NULL REFERENCES events(id),
	last_seq          BIGINT NOT NULL DEFAULT 0,
	running           BIGINT NOT NULL DEFAULT 0,
	compacted_seq     BIGINT NOT NULL DEFAULT 0,
	compacted_running BIGINT NOT NULL DEFAULT 0
);
-- Existing events get their venue scope, empty: the node fills it when it
-- starts (Service.SyncVenues).
INSERT INTO log_scopes (scope, event_id) SELECT '#venue:' || id, id FROM events;

-- The current rows of every venue scope: what its snapshot sends and what
-- the next change is compared with. row_key is kind || '/' || id, the
-- snapshot order: compared bytewise (COLLATE "C"), as the gate's
-- validation compares Go strings.
CREATE TABLE venue_rows (
	scope   TEXT NOT NULL,
	row_key TEXT COLLATE "C" NOT NULL,
	kind    TEXT NOT NULL,
	id      TEXT NOT NULL,
	data    BYTEA NOT NULL,
	PRIMARY KEY (scope, row_key)
);

-- Gate staff's sign-in secrets, per event: the argon2id PHC hash of the
-- PIN (bound to the badge's UID when there is a badge) and the badge's
-- lookup hash. An operator is staff of an event while it holds the
-- gate_staff role there (or on all events) and has a row here.
CREATE TABLE staff_credentials (
	event_id   TEXT NOT NULL REFERENCES events(id),
	operator   TEXT NOT NULL REFERENCES operators(name) ON DELETE CASCADE,
	pin_hash   TEXT NOT NULL,
	badge_hash TEXT NOT NULL DEFAULT '',
	set_at     BIGINT NOT NULL,
	set_by     TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (event_id, operator)
);

-- A scan names the gate staff member behind a staff action.
ALTER TABLE scans ADD COLUMN staff TEXT NOT NULL DEFAULT '';
