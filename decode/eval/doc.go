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
// passes. Gate mode (Options.Gate) runs the decoder as a gate configures
// it: each set's own format, decode.DefaultBudget and decode.DefaultShare,
// one decoder per set whose pass rotation and credit carry over from image
// to image as over camera frames; it is the mode for decode time, compared
// per image with gozxing's QR reader alone (Options.Baseline). Options.Frames
// shows each image several times, like consecutive camera frames.
package eval
