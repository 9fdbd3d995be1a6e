// Package entry is the one home of the entry rule: may this ticket pass
// in this direction now, given every passage recorded for it anywhere in
// the venue?
//
//	allowed = exit OR multi-entry OR no prior entry OR (re-entry allowed AND the latest passage was an exit)
//
// A gate deciding offline (agent/decide) and the fleet ruling online
// (fleet.Rule) both call Allowed, so the two cannot drift apart. The
// package also owns what the rule reads: Direction, Passage with its
// annulment, and the sentence a refusal shows ("Already used at Gate B at
// 19:04"). It does no I/O and imports only package ticket.
//
// # Passages
//
// A Passage is one recorded passage of a ticket through a gate: the device
// that recorded it, the gate's name, the time, the direction. The gate's
// database (agent/gatedb), the gossip between gates (agent/peer), the
// replication stream (fleet/wire) and the fleet's store keep their own
// encodings of it and convert at their edge; package fleet/wire imports
// nothing of ours, so its consumers convert its "in"/"out" strings.
//
// A passage is identified by its device and its time (Same): the stores
// keep one record per (device, millisecond), a gate learning the same
// passage twice keeps it once.
//
// # Annulment
//
// An admitted passage can be taken back: the turnstile did not turn within
// the timeout, or staff annulled the scan. The record stays, flagged
// Annulled, so the holder may present again. An annulled passage never
// counts, whatever its direction. An annulment is sticky: two records of
// one passage, one of them annulled, make one annulled passage (Merge),
// whichever arrived first.
//
// # Order and ties
//
// Allowed does not depend on the order of the passages it is given: the
// latest passage is the one with the latest time. Passages at the same
// instant (the stores keep milliseconds) are ordered, latest last, by
// direction — an exit before an entry, so that at a tie the holder is
// taken to be inside (it errs on the side of refusing a re-entry) — then
// by device, then by gate name (byte order). The order is total over what
// the rule reads, so any permutation of the same passages gives the same
// Result.
//
// # Time
//
// Allowed does not drop passages dated after now. A gate whose clock runs
// ahead records passages "in the future" of every other gate; ignoring them
// would let the same ticket through a second gate until that gate's clock
// caught up — a double-entry hole. Refusing marks dated implausibly far
// ahead is the job of the ingress (gossip, the fleet's intake), which knows
// where a mark came from. Allowed uses now only to measure, in
// Result.Ahead, how far the history it ruled on runs ahead of the caller's
// clock, so a caller can report a clock out of step.
package entry
