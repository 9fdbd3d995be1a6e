package ticket

import "strings"

// Format is the kind of credential a scanned text is.
type Format uint8

const (
	FormatUnknown     Format = iota // none of the below
	FormatAD1                       // static admit ticket, "AD…" prefix
	FormatAD1Rotating               // rotating admit ticket, "AD1R:" prefix
	FormatJWT                       // JWS compact JWT from a configured foreign issuer
	FormatLegacy                    // opaque digits-only legacy barcode
)

func (f Format) String() string {
	switch f {
	case FormatAD1:
		return "ad1"
	case FormatAD1Rotating:
		return "ad1-rotating"
	case FormatJWT:
		return "jwt"
	case FormatLegacy:
		return "legacy"
	}
	return "unknown"
}

// Assurance says how much a verified credential can be trusted.
type Assurance uint8

const (
	AssuranceNone Assurance = iota // refused
	// AssuranceLow: an opaque legacy barcode found in the allowlist. Anyone
	// who has seen the digits can copy it; nothing is signed.
	AssuranceLow
	// AssuranceHigh: signature verified offline against a configured key.
	AssuranceHigh
)

func (a Assurance) String() string {
	switch a {
	case AssuranceLow:
		return "low"
	case AssuranceHigh:
		return "high"
	}
	return "none"
}

// Legacy barcode limits: digits only, this many of them.
const (
	MinLegacyDigits = 6
	MaxLegacyDigits = 32
)

// IsLegacy reports whether text is an opaque legacy barcode id: between
// MinLegacyDigits and MaxLegacyDigits ASCII digits and nothing else. Such an
// id carries no signature: it is low assurance and must be looked up in the
// allowlist (VerifyOptions.Legacy).
func IsLegacy(text string) bool {
	return len(text) >= MinLegacyDigits && len(text) <= MaxLegacyDigits && allDigits(text)
}

// Classify tells which kind of credential text is, from its shape only.
func Classify(text string) Format {
	switch {
	case strings.HasPrefix(text, RotatingPrefix):
		return FormatAD1Rotating
	case strings.HasPrefix(text, "AD"):
		return FormatAD1
	case looksLikeJWT(text):
		return FormatJWT
	case IsLegacy(text):
		return FormatLegacy
	}
	return FormatUnknown
}

// LegacyLookup finds an opaque legacy barcode id in the allowlist and returns
// the claims recorded for it (ID, Event, validity window, ...).
type LegacyLookup interface {
	LookupLegacy(code string) (Claims, bool)
}

// Result is what Check found.
type Result struct {
	Claims    Claims
	Format    Format
	Assurance Assurance
}

// Check verifies any supported credential text: admit static and rotating
// tickets and JWTs exactly as VerifyWith (AssuranceHigh), and opaque legacy
// barcodes through opts.Legacy (AssuranceLow; ReasonLegacyLookup if opts
// has no Legacy, ReasonNotInAllowlist if it is not found). The legacy claims
// then get the same revocation, event and window checks.
func Check(text string, kr *Keyring, opts VerifyOptions) (Result, error) {
	f := Classify(text)
	if f != FormatLegacy {
		c, err := VerifyWith(text, kr, opts)
		if err != nil {
			return Result{Format: f}, err
		}
		return Result{Claims: c, Format: f, Assurance: AssuranceHigh}, nil
	}
	if opts.Legacy == nil {
		return Result{Format: f}, refusef(ReasonLegacyLookup, "no allowlist lookup configured")
	}
	c, ok := opts.Legacy.LookupLegacy(text)
	if !ok {
		return Result{Format: f}, refusef(ReasonNotInAllowlist, "legacy code %s", text)
	}
	if err := gateChecks(c, noCode, opts); err != nil {
		return Result{Format: f}, err
	}
	return Result{Claims: c, Format: f, Assurance: AssuranceLow}, nil
}
