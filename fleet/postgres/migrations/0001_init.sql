CREATE TABLE events (
	id                TEXT PRIMARY KEY,
	name              TEXT NOT NULL,
	starts_at         BIGINT NOT NULL,
	ends_at           BIGINT NOT NULL,
	created_at        BIGINT NOT NULL,
	last_seq          BIGINT NOT NULL DEFAULT 0,
	running           BIGINT NOT NULL DEFAULT 0,
	compacted_seq     BIGINT NOT NULL DEFAULT 0,
	compacted_running BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE signing_keys (
	event_id   TEXT NOT NULL REFERENCES events(id),
	id         TEXT NOT NULL,
	private    BYTEA NOT NULL,
	created_at BIGINT NOT NULL,
	retired_at BIGINT,
	PRIMARY KEY (event_id, id)
);

CREATE TABLE tickets (
	event_id      TEXT NOT NULL REFERENCES events(id),
	id            TEXT NOT NULL,
	type          TEXT NOT NULL,
	holder        TEXT NOT NULL DEFAULT '',
	code          TEXT NOT NULL,
	issued_at     BIGINT NOT NULL,
	revoked_at    BIGINT,
	revoke_reason TEXT NOT NULL DEFAULT '',
	replaced_by   TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (event_id, id)
);

-- The change log gates replicate from: per event, seq dense and committed
-- in order (appends lock the event row); running is the log's CRC up to seq.
CREATE TABLE change_log (
	event_id TEXT NOT NULL REFERENCES events(id),
	seq      BIGINT NOT NULL,
	kind     TEXT NOT NULL,
	body     BYTEA NOT NULL,
	running  BIGINT NOT NULL,
	PRIMARY KEY (event_id, seq)
);

CREATE TABLE scans (
	device_id   TEXT NOT NULL,
	seq         BIGINT NOT NULL,
	event_id    TEXT NOT NULL,
	ticket_id   TEXT NOT NULL DEFAULT '',
	gate        TEXT NOT NULL DEFAULT '',
	at          BIGINT NOT NULL,
	outcome     TEXT NOT NULL,
	reason      TEXT NOT NULL DEFAULT '',
	sentence    TEXT NOT NULL DEFAULT '',
	received_at BIGINT NOT NULL,
	PRIMARY KEY (device_id, seq)
);
CREATE INDEX scans_by_received ON scans (received_at);

CREATE TABLE used (
	event_id  TEXT NOT NULL,
	ticket_id TEXT NOT NULL,
	device_id TEXT NOT NULL,
	at        BIGINT NOT NULL,
	gate      TEXT NOT NULL,
	PRIMARY KEY (event_id, ticket_id, device_id, at)
);

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
	public_key     BYTEA,
	created_at     BIGINT NOT NULL,
	revoked_at     BIGINT NOT NULL DEFAULT 0,
	last_seen      BIGINT NOT NULL DEFAULT 0,
	firmware       TEXT NOT NULL DEFAULT '',
	config_version BIGINT NOT NULL DEFAULT 0,
	config_error   TEXT NOT NULL DEFAULT ''
);

CREATE TABLE enrollments (
	token_hash BYTEA PRIMARY KEY,
	device_id  TEXT NOT NULL,
	name       TEXT NOT NULL DEFAULT '',
	grp        TEXT NOT NULL DEFAULT '',
	gate       TEXT NOT NULL DEFAULT '',
	created_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL,
	used_at    BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE configs (
	scope      TEXT PRIMARY KEY,
	version    BIGINT NOT NULL UNIQUE,
	body       TEXT NOT NULL,
	updated_at BIGINT NOT NULL
);
