-- Protocol 3: an annulled passage (the turnstile did not turn, staff took
-- it back) is flagged, logged as a change of kind 'annul' and no longer
-- counts against the ticket anywhere in the venue.
ALTER TABLE used ADD COLUMN annulled INTEGER NOT NULL DEFAULT 0;
