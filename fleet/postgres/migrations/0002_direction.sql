-- Protocol 3: passages carry their direction. An exit is recorded as an
-- admitted scan with direction 'out' and fanned out as a used mark with
-- that direction (before, it was an admission with reason 'exit', which
-- other gates counted as an entry).
ALTER TABLE scans ADD COLUMN direction TEXT NOT NULL DEFAULT 'in';
ALTER TABLE used ADD COLUMN direction TEXT NOT NULL DEFAULT 'in';
UPDATE scans SET direction = 'out', reason = '' WHERE outcome = 'admitted' AND reason = 'exit';
UPDATE used SET direction = 'out' FROM scans s WHERE s.device_id = used.device_id
	AND s.event_id = used.event_id AND s.ticket_id = used.ticket_id AND s.at = used.at AND s.direction = 'out';
