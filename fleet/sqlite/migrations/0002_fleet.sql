-- Issue 5: per-event change log with running checksums and compaction,
-- ticket types, zones, gates, devices, enrollment, configs, used marks.

ALTER TABLE events ADD COLUMN last_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN running INTEGER NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN compacted_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN compacted_running INTEGER NOT NULL DEFAULT 0;

ALTER TABLE tickets ADD COLUMN revoke_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE tickets ADD COLUMN replaced_by TEXT NOT NULL DEFAULT '';

-- The log of 0001 had one global seq. Its rows are dropped and every event
-- is marked compacted at seq 1, so every existing replica (cursor 0, or a
-- cursor from the old global numbering) is resynchronised by snapshot.
DROP TABLE changes;
UPDATE events SET last_seq = 1, compacted_seq = 1;

CREATE TABLE change_log (
	event_id TEXT NOT NULL REFERENCES events(id),
	seq      INTEGER NOT NULL,
	kind     TEXT NOT NULL,
	body     BLOB NOT NULL,
	running  INTEGER NOT NULL,
	PRIMARY KEY (event_id, seq)
) WITHOUT ROWID;

CREATE TABLE used (
	event_id  TEXT NOT NULL,
	ticket_id TEXT NOT NULL,
	device_id TEXT NOT NULL,
	at        INTEGER NOT NULL,
	gate      TEXT NOT NULL,
	PRIMARY KEY (event_id, ticket_id, device_id, at)
) WITHOUT ROWID;
INSERT OR IGNORE INTO used SELECT event_id, ticket_id, device_id, at, gate FROM scans WHERE outcome = 'admitted';

CREATE TABLE ticket_types (
	event_id TEXT NOT NULL REFERENCES events(id),
	id       TEXT NOT NULL,
	name     TEXT NOT NULL,
	zones    TEXT NOT NULL DEFAULT '[]',
	policy   TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (event_id, id)
);

CREATE TABLE zones (
	event_id TEXT NOT NULL REFERENCES events(id),
	id       TEXT NOT NULL,
	name     TEXT NOT NULL,
	PRIMARY KEY (event_id, id)
);

CREATE TABLE gates (
	event_id TEXT NOT NULL REFERENCES events(id),
	id       TEXT NOT NULL,
	name     TEXT NOT NULL,
	zones    TEXT NOT NULL DEFAULT '[]',
	PRIMARY KEY (event_id, id)
);

CREATE TABLE devices (
	id             TEXT PRIMARY KEY,
	name           TEXT NOT NULL DEFAULT '',
	grp            TEXT NOT NULL DEFAULT '',
	gate           TEXT NOT NULL DEFAULT '',
	public_key     BLOB,
	created_at     INTEGER NOT NULL,
	revoked_at     INTEGER NOT NULL DEFAULT 0,
	last_seen      INTEGER NOT NULL DEFAULT 0,
	firmware       TEXT NOT NULL DEFAULT '',
	config_version INTEGER NOT NULL DEFAULT 0,
	config_error   TEXT NOT NULL DEFAULT ''
);

CREATE TABLE enrollments (
	token_hash BLOB PRIMARY KEY,
	device_id  TEXT NOT NULL,
	name       TEXT NOT NULL DEFAULT '',
	grp        TEXT NOT NULL DEFAULT '',
	gate       TEXT NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	used_at    INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE configs (
	scope      TEXT PRIMARY KEY,
	version    INTEGER NOT NULL UNIQUE,
	body       TEXT NOT NULL,
	updated_at INTEGER NOT NULL
);
