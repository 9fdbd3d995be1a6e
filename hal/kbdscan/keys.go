package kbdscan

// Linux input event types and key codes (linux/input-event-codes.h).
const (
	evSyn = 0x00
	evKey = 0x01

	keyEnter      = 28
	keyKPEnter    = 96
	keyTab        = 15
	keyLeftShift  = 42
	keyRightShift = 54
	keyCapsLock   = 58
)

// usKeys maps a key code to its character without and with shift, US
// layout. Keypad keys give the same character either way.
var usKeys = map[uint16][2]byte{
	2: {'1', '!'}, 3: {'2', '@'}, 4: {'3', '#'}, 5: {'4', '$'}, 6: {'5', '%'},
	7: {'6', '^'}, 8: {'7', '&'}, 9: {'8', '*'}, 10: {'9', '('}, 11: {'0', ')'},
	12: {'-', '_'}, 13: {'=', '+'},
	16: {'q', 'Q'}, 17: {'w', 'W'}, 18: {'e', 'E'}, 19: {'r', 'R'}, 20: {'t', 'T'},
	21: {'y', 'Y'}, 22: {'u', 'U'}, 23: {'i', 'I'}, 24: {'o', 'O'}, 25: {'p', 'P'},
	26: {'[', '{'}, 27: {']', '}'},
	30: {'a', 'A'}, 31: {'s', 'S'}, 32: {'d', 'D'}, 33: {'f', 'F'}, 34: {'g', 'G'},
	35: {'h', 'H'}, 36: {'j', 'J'}, 37: {'k', 'K'}, 38: {'l', 'L'},
	39: {';', ':'}, 40: {'\'', '"'}, 41: {'`', '~'}, 43: {'\\', '|'},
	44: {'z', 'Z'}, 45: {'x', 'X'}, 46: {'c', 'C'}, 47: {'v', 'V'}, 48: {'b', 'B'},
	49: {'n', 'N'}, 50: {'m', 'M'},
	51: {',', '<'}, 52: {'.', '>'}, 53: {'/', '?'}, 57: {' ', ' '},
	55: {'*', '*'}, 98: {'/', '/'}, 74: {'-', '-'}, 78: {'+', '+'}, 83: {'.', '.'},
	71: {'7', '7'}, 72: {'8', '8'}, 73: {'9', '9'}, 75: {'4', '4'}, 76: {'5', '5'},
	77: {'6', '6'}, 79: {'1', '1'}, 80: {'2', '2'}, 81: {'3', '3'}, 82: {'0', '0'},
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// charKeys is the reverse of usKeys for the twin: the main-block key and
// whether shift is needed.
var charKeys = func() map[byte]struct {
	code  uint16
	shift bool
} {
	m := map[byte]struct {
		code  uint16
		shift bool
	}{}
	for code, cs := range usKeys {
		if code >= 55 && code != 57 { // keypad: the twin types the main block
			continue
		}
		m[cs[0]] = struct {
			code  uint16
			shift bool
		}{code, false}
		if cs[1] != cs[0] {
			m[cs[1]] = struct {
				code  uint16
				shift bool
			}{code, true}
		}
	}
	return m
}()
