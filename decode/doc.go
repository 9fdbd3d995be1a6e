// Package decode turns pixels into symbols: frame capture through gocv
// (V4L2 devices, video files, image folders, and a virtual camera fed with
// images for tests and the demo venue), grayscale conversion, gozxing
// readers under a multi-pass strategy (Decoder), the camera pipeline that
// runs the first pass inline and the deep passes on spare cores
// (Pipeline), and the frame loop of one camera (Reader), which owns the
// frame buffer and the pipeline. It knows
// nothing about tickets, nor about presentations: deciding that the same
// code read again is the same attendee is the gate's business.
package decode
