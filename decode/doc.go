// Package decode turns pixels into symbols: frame capture through gocv
// (V4L2 devices, video files, image folders, and a virtual camera fed with
// images for tests and the demo venue), grayscale conversion, and gozxing
// readers. It knows nothing about tickets.
package decode
