-- Claims before open (issue 16, peer protocol 3; agent/claim.go). A gate
-- about to admit a single-entry or re-entry ticket first claims it from
-- its peers. The claims a gate holds survive a restart as marks do:
--   granted: a peer's claim this gate answered "no conflict" (this gate
--            refuses the ticket, "being used at Gate A", while it stands);
--   won:     this gate's own claim that every peer let through, until its
--            journal row commits;
--   alone:   this gate's admission made without the word of every peer
--            (none reachable, or one silent past the deadline), kept so
--            that a double admission is reported once the links return.
-- A row stands until expires (ms; the receiving gate's clock), or until a
-- mark or a release ends it first. (0007 is another branch's migration;
-- migrations are recorded by name, so the order of arrival is harmless.)
CREATE TABLE claims (
	event_id  TEXT NOT NULL,
	ticket_id TEXT NOT NULL,
	device    TEXT NOT NULL,
	at        INTEGER NOT NULL,
	role      TEXT NOT NULL,
	gate      TEXT NOT NULL DEFAULT '',
	direction TEXT NOT NULL DEFAULT 'in',
	policy    TEXT NOT NULL,
	expires   INTEGER NOT NULL,
	PRIMARY KEY (event_id, ticket_id, device, at, role)
) WITHOUT ROWID;

-- Contests (wire.Contest) this gate noticed, waiting for the fleet's
-- acknowledgement: two claims on one ticket at once (one refused), or two
-- admissions the entry rule allows only one of (gates that could not
-- reach each other). The same contest noticed twice is kept once.
CREATE TABLE contests (
	id            INTEGER PRIMARY KEY AUTOINCREMENT,
	event_id      TEXT NOT NULL,
	ticket_id     TEXT NOT NULL,
	kind          TEXT NOT NULL,
	first_device  TEXT NOT NULL,
	first_gate    TEXT NOT NULL DEFAULT '',
	first_at      INTEGER NOT NULL,
	second_device TEXT NOT NULL,
	second_gate   TEXT NOT NULL DEFAULT '',
	second_at     INTEGER NOT NULL,
	by_device     TEXT NOT NULL DEFAULT '',
	detected_at   INTEGER NOT NULL,
	UNIQUE (event_id, ticket_id, kind, first_device, first_at, second_device, second_at)
);
