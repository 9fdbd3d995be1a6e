// Package eval measures the decode strategy on an image corpus laid out as
// ../shared/corpus is: one folder per set (qrcode-1, pdf417-2, ...,
// falsepositives-1), per image NAME.png|jpg with the expected text in
// NAME.txt (exact match) or the expected bytes in NAME.bin.
//
// Sets qrcode-7 and pdf417-4 are structured append: images NN-MM.png are
// parts of message NN (expected in NN.txt/NN.bin). A message counts as read
// when every part decodes and the parts, ordered by their sequence number
// (file name order when the reader gives none), join to the expected
// content; it counts once in its family, like any other image.
//
// Families: QR, PDF417, Aztec, Code 128, DataMatrix, and "other" (Code 39,
// EAN-13, UPC-A, ITF). Any symbol read in a falsepositives-* image is a
// false positive.
//
// Two modes. Still-image mode (the default, used for the read-rate floors
// in the test) gives every image every pass with the five default formats
// enabled, so rates do not depend on machine load: it stands for a code
// held in front of the camera long enough for the decoder to try all its
// passes. Gate mode (Options.Gate) runs the decoder as a gate does: each
// set's own format, one decode.Pipeline per set (first pass inline, the
// optional passes on Options.Workers deep workers), each image shown as
// Options.Frames camera frames at Options.FPS; after each frame the workers
// have until the next one to read it (the run moves on as soon as they are
// idle, so it takes less than real time, but a loaded machine gets fewer
// passes per frame). Times are the first frame's inline pass, compared per
// image with gozxing's QR reader alone (Options.Baseline).
//
// The gate-conditions set (GenerateGateSet, `decode-eval -generate DIR`)
// is ours: camera frames generated deterministically for QR, Aztec and
// PDF417 under the conditions a gate meets (GateConditions: small codes,
// tilt, blur, dim light, glare, dark-mode phones, screens, clutter,
// motion) and frames without a code (falsepositives-gate), in folders
// named family-condition, which Run reads like the shared corpus. `make
// eval` generates it into var/gateset (ignored by git) and measures it in
// still mode and in gate mode after 1, 3 and 30 frames.
package eval
