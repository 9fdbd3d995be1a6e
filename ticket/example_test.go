package ticket_test

import (
	"fmt"
	"time"

	"admit/ticket"
)

func Example() {
	// Issuer side (fleet): one key per event, several allowed.
	key, err := ticket.GenerateSigningKey("fest25", "k1")
	if err != nil {
		panic(err)
	}
	start := time.Date(2025, 7, 4, 18, 0, 0, 0, time.UTC)
	text, err := ticket.Encode(ticket.Claims{
		ID:        "Q7XK2M4P",
		Event:     "fest25",
		Type:      "GA",
		NotBefore: start,
		NotAfter:  start.Add(48 * time.Hour),
	}, key)
	if err != nil {
		panic(err)
	}
	fmt.Println(text[:4], len(text) <= 178) // fits a version 7-M QR code

	// Gate side (agent): public keys only.
	kr := ticket.NewKeyring(key.Public())
	c, err := ticket.Verify(text, kr, start.Add(time.Hour))
	fmt.Println(c.ID, c.Type, c.KeyID, err)

	// A refusal carries a reason code and a sentence for the display.
	_, err = ticket.Verify(text, kr, start.Add(72*time.Hour))
	fmt.Println(ticket.ReasonOf(err), "/", ticket.SentenceOf(err))
	// Output:
	// AD1: true
	// Q7XK2M4P GA k1 <nil>
	// expired / ticket has expired
}

func ExampleVerifyWith() {
	key, _ := ticket.GenerateSigningKey("fest25", "k1")
	start := time.Date(2025, 7, 4, 18, 0, 0, 0, time.UTC)
	static, _ := ticket.Encode(ticket.Claims{
		ID: "Q7XK2M4P", Event: "fest25", NotBefore: start, NotAfter: start.Add(48 * time.Hour),
		Rotating: true, // must be shown with a rotating code
	}, key)
	secret := []byte("per-ticket-secret-xx") // held in the allowlist row

	// The agent's state, behind small interfaces.
	revoked := ticket.NewRevocationList()
	opts := ticket.VerifyOptions{
		Event:       "fest25",
		Revocations: revoked,
		Codes: ticket.CodeSecretsFunc(func(event, id string) ([]byte, bool) {
			return secret, event == "fest25" && id == "Q7XK2M4P"
		}),
	}
	kr := ticket.NewKeyring(key.Public())

	now := start.Add(time.Hour)
	shown, _ := ticket.Rotate(static, secret, now) // what the wallet displays
	opts.Now = now.Add(5 * time.Second)
	_, err := ticket.VerifyWith(shown, kr, opts)
	fmt.Println("live code:", err)

	opts.Now = now.Add(2 * time.Minute)
	_, err = ticket.VerifyWith(shown, kr, opts)
	fmt.Println("screenshot:", ticket.SentenceOf(err))

	_, err = ticket.VerifyWith(static, kr, opts)
	fmt.Println("static part only:", ticket.ReasonOf(err))

	revoked.Revoke("fest25", "Q7XK2M4P")
	_, err = ticket.VerifyWith(shown, kr, opts)
	fmt.Println("revoked:", ticket.ReasonOf(err))
	// Output:
	// live code: <nil>
	// screenshot: expired code (screenshot?)
	// static part only: missing_code
	// revoked: revoked
}

func ExampleCheck() {
	row := ticket.Claims{ID: "L-991", Event: "fest25",
		NotBefore: time.Date(2025, 7, 4, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2025, 7, 7, 0, 0, 0, 0, time.UTC)}
	opts := ticket.VerifyOptions{
		Now: time.Date(2025, 7, 5, 12, 0, 0, 0, time.UTC),
		Legacy: ticket.LegacyLookupFunc(func(code string) (ticket.Claims, bool) {
			return row, code == "4006381333931"
		}),
	}
	res, err := ticket.Check("4006381333931", ticket.NewKeyring(), opts)
	fmt.Println(res.Format, res.Assurance, res.Claims.ID, err)
	_, err = ticket.Check("1234567890", ticket.NewKeyring(), opts)
	fmt.Println(ticket.ReasonOf(err))
	// Output:
	// legacy low L-991 <nil>
	// not_in_allowlist
}

func ExampleCheckCode() {
	secret := []byte("per-ticket-secret-xx")
	now := time.Unix(1_750_000_000, 0)
	fmt.Println(ticket.CheckCode(secret, ticket.TOTP(secret, now.Add(-15*time.Second)), now))
	err := ticket.CheckCode(secret, ticket.TOTP(secret, now.Add(-45*time.Second)), now)
	fmt.Println(ticket.ReasonOf(err), "/", ticket.SentenceOf(err))
	// Output:
	// <nil>
	// expired_code / expired code (screenshot?)
}

// Example_gate shows how a gate agent wires its allowlist into verification:
// one lookup per authentic ticket, which can fail, and whose row can be kept
// for the entry rules that follow.
func Example_gate() {
	key, _ := ticket.GenerateSigningKey("fest25", "k1")
	start := time.Date(2025, 7, 4, 18, 0, 0, 0, time.UTC)
	text, _ := ticket.Encode(ticket.Claims{ID: "Q7XK2M4P", NotBefore: start, NotAfter: start.Add(48 * time.Hour)}, key)
	kr := ticket.NewKeyring(key.Public())

	type row struct {
		revoked bool
		secret  []byte
	}
	allowlist := map[string]row{"Q7XK2M4P": {}}

	var found row // the agent keeps the row for its entry rules
	res, err := ticket.Check(text, kr, ticket.VerifyOptions{
		Now:   start.Add(time.Hour),
		Event: "fest25",
		State: func(c ticket.Claims) (ticket.GateState, error) {
			r, ok := allowlist[c.ID]
			if !ok {
				return ticket.GateState{}, &ticket.Error{Reason: "unknown_ticket", Sentence: "ticket not on the allowlist"}
			}
			found = r
			return ticket.GateState{Revoked: r.revoked, CodeSecret: r.secret}, nil
		},
	})
	fmt.Println(res.Claims.ID, res.Assurance, found.revoked, err)
	// Output: Q7XK2M4P high false <nil>
}
