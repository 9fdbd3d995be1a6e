-- Venue data (issue 11, part of protocol 5). The gate replicates its
-- event's venue scope ('#venue:' || event id; a row of cursors like the
-- ticket log's) into a table per kind of venue row: the devices that
-- serve the event, with their keys (what peer gossip is checked against),
-- and the event's gate staff (argon2id hashes of their PINs). Rows carry
-- the replica generation of the snapshot that wrote them, as tickets do.
-- (Migration numbers: 0005 was set aside for the signed fleet link, which
-- needed none; migrations are recorded by name, so the gap is harmless.)
CREATE TABLE venue_devices (
	event_id   TEXT NOT NULL,
	id         TEXT NOT NULL,
	name       TEXT NOT NULL DEFAULT '',
	gate       TEXT NOT NULL DEFAULT '',
	public_key BLOB,
	revoked    INTEGER NOT NULL DEFAULT 0,
	gen        INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (event_id, id)
) WITHOUT ROWID;

CREATE TABLE venue_staff (
	event_id TEXT NOT NULL,
	id       TEXT NOT NULL,
	name     TEXT NOT NULL DEFAULT '',
	pin_hash TEXT NOT NULL,
	badge    TEXT NOT NULL DEFAULT '',
	gen      INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (event_id, id)
) WITHOUT ROWID;
CREATE INDEX venue_staff_badge ON venue_staff (event_id, badge);

-- Every event this gate serves gets its venue scope's cursor (0: nothing
-- yet), so the next hello asks for it.
INSERT OR IGNORE INTO cursors (event_id, seq) SELECT '#venue:' || event_id, 0 FROM cursors WHERE event_id NOT LIKE '#%';

-- The staff member (operator name) behind a staff action: journaled with
-- it and sent upstream.
ALTER TABLE journal ADD COLUMN staff TEXT NOT NULL DEFAULT '';

-- Failed staff sign-ins at this gate, per subject ('staff:<id>', or
-- 'gate' for all of them): a lock-out survives a restart.
CREATE TABLE staff_throttle (
	subject      TEXT PRIMARY KEY,
	failures     INTEGER NOT NULL,
	first_at     INTEGER NOT NULL,
	locked_until INTEGER NOT NULL DEFAULT 0
);
