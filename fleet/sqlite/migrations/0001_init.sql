CREATE TABLE events (
	id         TEXT PRIMARY KEY,
	name       TEXT NOT NULL,
	starts_at  INTEGER NOT NULL,
	ends_at    INTEGER NOT NULL,
	created_at INTEGER NOT NULL
);

CREATE TABLE signing_keys (
	event_id   TEXT NOT NULL REFERENCES events(id),
	id         TEXT NOT NULL,
	private    BLOB NOT NULL,
	created_at INTEGER NOT NULL,
	retired_at INTEGER,
	PRIMARY KEY (event_id, id)
);

CREATE TABLE tickets (
	event_id   TEXT NOT NULL REFERENCES events(id),
	id         TEXT NOT NULL,
	type       TEXT NOT NULL,
	holder     TEXT NOT NULL DEFAULT '',
	code       TEXT NOT NULL,
	issued_at  INTEGER NOT NULL,
	revoked_at INTEGER,
	PRIMARY KEY (event_id, id)
);

-- The change log gates replicate from. seq is global and never reused;
-- a gate's cursor for an event is the last seq of that event it applied.
CREATE TABLE changes (
	seq      INTEGER PRIMARY KEY AUTOINCREMENT,
	event_id TEXT NOT NULL REFERENCES events(id),
	kind     TEXT NOT NULL,
	body     BLOB NOT NULL
);
CREATE INDEX changes_by_event ON changes (event_id, seq);

CREATE TABLE scans (
	device_id   TEXT NOT NULL,
	seq         INTEGER NOT NULL,
	event_id    TEXT NOT NULL,
	ticket_id   TEXT NOT NULL DEFAULT '',
	gate        TEXT NOT NULL DEFAULT '',
	at          INTEGER NOT NULL,
	outcome     TEXT NOT NULL,
	reason      TEXT NOT NULL DEFAULT '',
	sentence    TEXT NOT NULL DEFAULT '',
	received_at INTEGER NOT NULL,
	PRIMARY KEY (device_id, seq)
);
CREATE INDEX scans_by_received ON scans (received_at);
