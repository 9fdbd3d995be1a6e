-- Per-event replication cursor: the last fleet change seq applied.
CREATE TABLE cursors (
	event_id TEXT PRIMARY KEY,
	seq      INTEGER NOT NULL
);

CREATE TABLE keys (
	event_id   TEXT NOT NULL,
	id         TEXT NOT NULL,
	public     BLOB NOT NULL,
	retired_at INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (event_id, id)
);

CREATE TABLE tickets (
	event_id TEXT NOT NULL,
	id       TEXT NOT NULL,
	type     TEXT NOT NULL,
	holder   TEXT NOT NULL DEFAULT '',
	revoked  INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (event_id, id)
) WITHOUT ROWID;

-- Admissions anywhere in the venue: from this gate's own decisions and from
-- the fleet's fan-out. The key makes both routes for one admission one row.
CREATE TABLE used (
	event_id  TEXT NOT NULL,
	ticket_id TEXT NOT NULL,
	device    TEXT NOT NULL,
	at        INTEGER NOT NULL,
	gate      TEXT NOT NULL,
	PRIMARY KEY (event_id, ticket_id, device, at)
) WITHOUT ROWID;

-- Every decision of this gate, written before the relay moves. seq is the
-- per-device sequence the fleet dedups on; AUTOINCREMENT never reuses one,
-- even after acknowledged rows are compacted away.
CREATE TABLE journal (
	seq       INTEGER PRIMARY KEY AUTOINCREMENT,
	event_id  TEXT NOT NULL,
	ticket_id TEXT NOT NULL DEFAULT '',
	gate      TEXT NOT NULL,
	at        INTEGER NOT NULL,
	outcome   TEXT NOT NULL,
	reason    TEXT NOT NULL DEFAULT '',
	sentence  TEXT NOT NULL DEFAULT ''
);
