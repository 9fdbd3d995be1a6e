-- Issue 12 (part of protocol 5): the venue model reaches the gates, gates
-- admit tickets newer than their replica on signature, configs report
-- failure.

-- The sync point of the change logs. issued_max is the latest issue time
-- (ms) of a ticket logged so far; every change row keeps the value it had
-- after that change. A ticket is logged only when issued later than
-- issued_max minus fleet.IssueSlack, so a gate that applied a position
-- holds every ticket issued up to that position's issued_max minus the
-- slack: its sync point (wire.Batch.AsOf). Rows logged before this
-- migration have 0: no ticket of theirs says when it was issued.
ALTER TABLE change_log ADD COLUMN issued_max INTEGER NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN issued_max INTEGER NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN compacted_issued_max INTEGER NOT NULL DEFAULT 0;
ALTER TABLE log_scopes ADD COLUMN issued_max INTEGER NOT NULL DEFAULT 0;
ALTER TABLE log_scopes ADD COLUMN compacted_issued_max INTEGER NOT NULL DEFAULT 0;

-- An event's settings for its gates (replicated in its venue scope):
-- whether a ticket newer than a gate's replica is admitted on its
-- signature.
ALTER TABLE events ADD COLUMN admit_on_signature INTEGER NOT NULL DEFAULT 1;

-- UID badges that open an event's gates (staff cards, season cards): the
-- UID's lookup hash (wire.BadgeLookup), never the UID itself.
CREATE TABLE badges (
	event_id   TEXT NOT NULL REFERENCES events(id),
	id         TEXT NOT NULL,
	uid_hash   TEXT NOT NULL,
	name       TEXT NOT NULL DEFAULT '',
	zones      TEXT NOT NULL DEFAULT '[]',
	not_before INTEGER NOT NULL DEFAULT 0,
	not_after  INTEGER NOT NULL DEFAULT 0,
	policy     TEXT NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL,
	PRIMARY KEY (event_id, id)
);
CREATE UNIQUE INDEX badges_uid ON badges (event_id, uid_hash);

-- Partners' JWT verification keys (public), per event.
CREATE TABLE partner_keys (
	event_id   TEXT NOT NULL REFERENCES events(id),
	id         TEXT NOT NULL,
	kid        TEXT NOT NULL DEFAULT '',
	alg        TEXT NOT NULL,
	public     BLOB NOT NULL,
	issuer     TEXT NOT NULL DEFAULT '',
	retired_at INTEGER NOT NULL DEFAULT 0,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (event_id, id)
);

-- The config version a device could not apply (its reason in
-- config_error); 0: none since the one it runs.
ALTER TABLE devices ADD COLUMN config_failed INTEGER NOT NULL DEFAULT 0;
