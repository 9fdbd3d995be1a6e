// Package pdf417 reads PDF417 symbols (ISO/IEC 15438) from binarized images.
//
// The reader works on a gozxing BitMatrix so it slots in as one more pass of
// the decode strategy next to gozxing's own readers (Reader implements
// gozxing.Reader). The pipeline:
//
//  1. Detect: scan every few pixel rows for the start (81111113) and stop
//     (711311121) patterns, chain the hits vertically and fit one line per
//     side, so a tilted or sheared symbol still gives, for every pixel row,
//     where its codeword area begins and ends. If nothing is found the same
//     is tried on the image turned by 180°, 90° and 270°.
//  2. Read row indicators next to the start and stop patterns; their values
//     give the logical row number (value/30*3 + cluster) and, voted over all
//     pixel rows, the column count, row count and error-correction level.
//  3. Read every codeword slot of every pixel row: the 17-module pattern is
//     sampled from the 8 bar/space runs and looked up in the three cluster
//     tables (table.go, derived by gen_table.go). The logical row of a
//     codeword comes from a plane fitted to the row indicators, snapped to
//     the nearest row whose cluster matches the codeword's own cluster, so
//     skew across several rows is tolerated. Each cell keeps a vote count.
//  4. Correct errors and erasures (cells without a vote) with Reed–Solomon
//     over GF(929) (ec.go), then expand text, byte and numeric compaction,
//     ECIs and the macro PDF417 control block (bitstream.go).
package pdf417
