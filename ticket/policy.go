package ticket

import "fmt"

// Policy is a ticket's entry policy. The zero value is SingleEntry.
type Policy uint8

const (
	// SingleEntry admits the ticket once.
	SingleEntry Policy = iota
	// MultiEntry admits the ticket any number of times.
	MultiEntry
	// ReEntry admits the ticket again only after an exit was recorded.
	ReEntry
)

func (p Policy) String() string {
	switch p {
	case SingleEntry:
		return "single"
	case MultiEntry:
		return "multi"
	case ReEntry:
		return "reentry"
	}
	return fmt.Sprintf("Policy(%d)", uint8(p))
}

// Valid reports whether p is one of the defined policies.
func (p Policy) Valid() bool { return p <= ReEntry }

// ParsePolicy parses "single", "multi" or "reentry" (the String forms).
func ParsePolicy(s string) (Policy, error) {
	switch s {
	case "single":
		return SingleEntry, nil
	case "multi":
		return MultiEntry, nil
	case "reentry", "re-entry":
		return ReEntry, nil
	}
	return 0, fmt.Errorf("ticket: unknown entry policy %q (want single, multi or reentry)", s)
}
