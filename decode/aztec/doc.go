// Package aztec reads Aztec symbols (ISO/IEC 24778) — the symbology of rail
// tickets (UIC 918.3 / 918.9) and of many boarding passes — from binarized
// images.
//
// The reader works on a gozxing BitMatrix so it slots in as one more reader
// of the decode strategy (Reader implements gozxing.Reader). The pipeline:
//
//  1. Bull's eye (detect.go): every row is scanned for the core as a row
//     crosses it — seven runs of one module each, light, dark, light, the
//     dark centre, light, dark, light, between two dark rings — compared
//     by neighbouring pairs so that blur (dark runs grown, light ones
//     shrunk) does not matter. A hit is checked across its column and both
//     diagonals and re-centred.
//  2. Geometry: from the centre, 64 rays find the edges of the concentric
//     rings; each edge is a square in perspective, whose corners (the
//     farthest points, refined by intersecting the lines fitted to its
//     sides) say which side each edge point lies on. All points of the
//     rings 2.5 and 3.5 modules out (compact) or up to 5.5 (full range)
//     then fit one homography, module coordinates to pixels, by least
//     squares on the inverse map.
//  3. Orientation and mode message: the 12 orientation modules at the
//     corners of the mode-message ring (radius 5 compact, 7 full) give
//     the turn and whether the symbol is seen mirrored; the mode message
//     (28 or 40 bits, Reed–Solomon over GF(16)) gives the layers and the
//     data codewords, the reader-initialization flag, or — a compact
//     symbol whose message checks only with alternate bits inverted — a
//     rune (ISO/IEC 24778 Annex A), whose text is its value in three
//     digits.
//  4. Refinement (refine.go): between neighbouring modules of different
//     colours over the whole symbol the edge is found, and the homography
//     refitted to those edges, growing from the core outwards; this is
//     what makes large symbols (up to 151×151), tilted ones and ones
//     cropped at the image edge readable, where extrapolating from the
//     bull's eye drifts by a module.
//  5. Data (symbol.go): the layers are read outermost first, in two-module
//     bands, the reference grid of full-range symbols skipped; codewords
//     of 6, 8, 10 or 12 bits are corrected with Reed–Solomon over GF(64),
//     GF(256), GF(1024) or GF(4096) (rs.go: Berlekamp–Massey, Chien,
//     Forney), and bit stuffing is removed.
//  6. Text (text.go): the upper, lower, mixed, punctuation and digit
//     tables with their shifts and latches, binary shift, FLG(n) — FNC1
//     (GS1 data in first position, a GS separator later) and ECI
//     designators, whose character sets decode/internal/eci applies — and
//     structured append (a header of M/L U/L, an optional message ID
//     between spaces and two capitals for position and count).
package aztec
