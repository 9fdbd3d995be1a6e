-- Replica bookkeeping for protocol 2 (issue 5): the running checksum of the
-- applied log, snapshot progress, and replica generations. A snapshot
-- writes its rows under a new generation; when its last chunk lands, rows
-- of older generations (tickets and keys the fleet no longer has) go.
ALTER TABLE cursors ADD COLUMN running INTEGER NOT NULL DEFAULT 0;
ALTER TABLE cursors ADD COLUMN gen INTEGER NOT NULL DEFAULT 0;
ALTER TABLE cursors ADD COLUMN snap_active INTEGER NOT NULL DEFAULT 0;
ALTER TABLE cursors ADD COLUMN snap_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE cursors ADD COLUMN snap_running INTEGER NOT NULL DEFAULT 0;
ALTER TABLE cursors ADD COLUMN snap_after TEXT NOT NULL DEFAULT '';

ALTER TABLE tickets ADD COLUMN gen INTEGER NOT NULL DEFAULT 0;
ALTER TABLE keys ADD COLUMN gen INTEGER NOT NULL DEFAULT 0;

-- Replicas of protocol 1 kept no running checksum: resynchronise them.
UPDATE cursors SET snap_active = 1 WHERE seq > 0;

-- The config the fleet pushed and this device applied.
CREATE TABLE device_config (
	id      INTEGER PRIMARY KEY CHECK (id = 1),
	version INTEGER NOT NULL,
	body    BLOB NOT NULL
);
