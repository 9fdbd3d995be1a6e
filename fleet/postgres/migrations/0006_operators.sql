-- Operators (issue 11): accounts with an argon2id password (a PHC string)
-- and a TOTP seed, grants of a role on an event ('*': all events),
-- hashed recovery codes, one-time setup links, browser sessions (hashed
-- ids), API tokens (hashed), the sign-in throttle, and the audit log.
-- Devices and enrollment tokens name the events they serve, which is
-- what an event manager's grant is checked against; a token made to
-- replace an enrolled device says so.
CREATE TABLE operators (
	name           TEXT PRIMARY KEY,
	password_hash  TEXT NOT NULL DEFAULT '',
	totp_secret    BYTEA,
	totp_last_step BIGINT NOT NULL DEFAULT -1,
	created_at     BIGINT NOT NULL,
	created_by     TEXT NOT NULL DEFAULT ''
);

CREATE TABLE operator_grants (
	operator TEXT NOT NULL REFERENCES operators(name) ON DELETE CASCADE,
	role     TEXT NOT NULL,
	event    TEXT NOT NULL,
	PRIMARY KEY (operator, role, event)
);

CREATE TABLE recovery_codes (
	operator  TEXT NOT NULL REFERENCES operators(name) ON DELETE CASCADE,
	code_hash BYTEA NOT NULL,
	used_at   BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (operator, code_hash)
);

CREATE TABLE operator_setups (
	token_hash     BYTEA PRIMARY KEY,
	operator       TEXT NOT NULL REFERENCES operators(name) ON DELETE CASCADE,
	pending_secret BYTEA,
	created_at     BIGINT NOT NULL,
	expires_at     BIGINT NOT NULL,
	used_at        BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE operator_sessions (
	id_hash    BYTEA PRIMARY KEY,
	public_id  TEXT NOT NULL,
	operator   TEXT NOT NULL REFERENCES operators(name) ON DELETE CASCADE,
	stage      TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	last_seen  BIGINT NOT NULL,
	expires_at BIGINT NOT NULL,
	remote     TEXT NOT NULL DEFAULT '',
	user_agent TEXT NOT NULL DEFAULT ''
);
CREATE INDEX operator_sessions_operator ON operator_sessions (operator);

CREATE TABLE api_tokens (
	id         TEXT PRIMARY KEY,
	token_hash BYTEA NOT NULL UNIQUE,
	name       TEXT NOT NULL,
	role       TEXT NOT NULL,
	event      TEXT NOT NULL,
	created_by TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL DEFAULT 0,
	revoked_at BIGINT NOT NULL DEFAULT 0,
	last_used  BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE login_throttle (
	subject      TEXT PRIMARY KEY,
	failures     BIGINT NOT NULL,
	first_at     BIGINT NOT NULL,
	locked_until BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX login_throttle_first ON login_throttle (first_at);

CREATE TABLE audit_log (
	id         BIGSERIAL PRIMARY KEY,
	at         BIGINT NOT NULL,
	actor_kind TEXT NOT NULL,
	actor      TEXT NOT NULL,
	method     TEXT NOT NULL,
	route      TEXT NOT NULL,
	target     TEXT NOT NULL DEFAULT '',
	summary    TEXT NOT NULL DEFAULT '',
	remote     TEXT NOT NULL DEFAULT '',
	status     BIGINT NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_actor ON audit_log (actor, id);

ALTER TABLE devices ADD COLUMN events TEXT NOT NULL DEFAULT '[]';
ALTER TABLE enrollments ADD COLUMN events TEXT NOT NULL DEFAULT '[]';
ALTER TABLE enrollments ADD COLUMN replace_device BOOLEAN NOT NULL DEFAULT FALSE;
