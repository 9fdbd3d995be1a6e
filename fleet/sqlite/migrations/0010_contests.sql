-- Contests (issue 16, protocol 5): what gates noticed of two gates
-- contesting one ticket (wire.Contest) — two claims at once (one refused),
-- or two admissions the entry rule allows only one of (gates that could
-- not reach each other). Kept once however often, and by however many
-- gates, one is reported.
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
	noticed_at    INTEGER NOT NULL,
	reported_by   TEXT NOT NULL,
	received_at   INTEGER NOT NULL,
	UNIQUE (event_id, ticket_id, kind, first_device, first_at, second_device, second_at)
);
CREATE INDEX contests_by_event ON contests (event_id, id);
