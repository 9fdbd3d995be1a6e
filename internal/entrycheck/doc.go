// Package entrycheck holds no code, only a test: it checks that a gate's
// offline decision (agent/decide over the passages its database hands it)
// and the fleet's online ruling (fleet.Rule over the passages its store
// reads) agree, for random passage histories. Both call ticket/entry's
// Allowed; what the test guards is everything around that call — how each
// side reads, merges, orders and filters passages and converts their
// encodings.
//
// It lives here because it must import both sides, which neither side may
// do: agent must not depend on fleet's root package for its own tests'
// sake, fleet must not import agent, and ticket/entry imports nothing of
// either.
package entrycheck
