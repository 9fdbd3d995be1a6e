-- Issue 12 (part of protocol 5).
--
-- Readiness and the sync point, per replicated log (a cursors row):
-- ready is set the moment the log's first snapshot completed and never
-- cleared but by a wipe (a revoked gate's); before it the gate decides
-- nothing for that event. as_of is the fleet's sync point of the applied
-- position (wire.Batch.AsOf, Unix ms; 0: none said): a ticket not on the
-- replica, issued after it, may be admitted on its signature.
ALTER TABLE cursors ADD COLUMN ready INTEGER NOT NULL DEFAULT 0;
ALTER TABLE cursors ADD COLUMN as_of INTEGER NOT NULL DEFAULT 0;

-- A replica that received changes before this release completed a sync
-- then: it is ready (it decided before, on what it had).
UPDATE cursors SET ready = 1 WHERE seq > 0 AND event_id NOT LIKE '#%';

-- The venue model, from the event's venue scope: a table per kind, rows
-- carrying the replica generation of the snapshot that wrote them.
CREATE TABLE venue_zones (
	event_id TEXT NOT NULL,
	id       TEXT NOT NULL,
	name     TEXT NOT NULL DEFAULT '',
	gen      INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (event_id, id)
) WITHOUT ROWID;

CREATE TABLE venue_gates (
	event_id TEXT NOT NULL,
	id       TEXT NOT NULL,
	name     TEXT NOT NULL DEFAULT '',
	zones    TEXT NOT NULL DEFAULT '[]',
	gen      INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (event_id, id)
) WITHOUT ROWID;

CREATE TABLE venue_ticket_types (
	event_id TEXT NOT NULL,
	id       TEXT NOT NULL,
	name     TEXT NOT NULL DEFAULT '',
	zones    TEXT NOT NULL DEFAULT '[]',
	policy   TEXT NOT NULL DEFAULT '',
	gen      INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (event_id, id)
) WITHOUT ROWID;

-- The event's settings row (wire.VenueSettings), as the fleet wrote it.
CREATE TABLE venue_settings (
	event_id TEXT NOT NULL,
	id       TEXT NOT NULL,
	data     BLOB NOT NULL,
	gen      INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (event_id, id)
) WITHOUT ROWID;

-- UID badges that open the gates: found by the UID's lookup hash.
CREATE TABLE venue_badges (
	event_id   TEXT NOT NULL,
	id         TEXT NOT NULL,
	uid_hash   TEXT NOT NULL,
	name       TEXT NOT NULL DEFAULT '',
	zones      TEXT NOT NULL DEFAULT '[]',
	not_before INTEGER NOT NULL DEFAULT 0,
	not_after  INTEGER NOT NULL DEFAULT 0,
	policy     TEXT NOT NULL DEFAULT '',
	gen        INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (event_id, id)
) WITHOUT ROWID;
CREATE INDEX venue_badges_uid ON venue_badges (uid_hash);

-- Partners' JWT verification keys.
CREATE TABLE venue_jwt_keys (
	event_id   TEXT NOT NULL,
	id         TEXT NOT NULL,
	kid        TEXT NOT NULL DEFAULT '',
	alg        TEXT NOT NULL,
	public     BLOB NOT NULL,
	issuer     TEXT NOT NULL DEFAULT '',
	retired_at INTEGER NOT NULL DEFAULT 0,
	gen        INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (event_id, id)
) WITHOUT ROWID;

-- The venue scopes skipped these kinds until now: a snapshot fills them.
UPDATE cursors SET snap_active = 1, snap_seq = 0, snap_after = '' WHERE event_id LIKE '#venue:%';
