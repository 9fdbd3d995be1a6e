-- Keys at rest (issue 11). The fleet's own keys, one row per name: the
-- replica key, which signs what gates replicate (protocol 5), made once per
-- fleet and shared by every node on the database. Private halves, here and
-- in signing_keys, are sealed with the key-encryption key (fleet/kek),
-- which is never in the database; a node seals plaintext event keys left
-- by earlier versions when it opens the store. signing_keys.public is the
-- public half, so that snapshots and key listings never open a private key.
CREATE TABLE fleet_keys (
	name       TEXT PRIMARY KEY,
	public     BLOB NOT NULL,
	private    BLOB NOT NULL,
	created_at INTEGER NOT NULL
);

ALTER TABLE signing_keys ADD COLUMN public BLOB NOT NULL DEFAULT x'';
