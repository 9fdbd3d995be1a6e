-- Protocol 3: the per-ticket rotating-code (TOTP) secret of tickets issued
-- as rotating; replicated to gates with the ticket row. NULL: none.
ALTER TABLE tickets ADD COLUMN code_secret BLOB;
