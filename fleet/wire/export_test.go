package wire

// DecodeBatchFrame exposes the binary batch parser (without validation) to
// the tests.
var DecodeBatchFrame = decodeBatchFrame
