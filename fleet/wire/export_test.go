package wire

// DecodeBatchFrame exposes the binary batch parser (without validation) to
// the tests.
var DecodeBatchFrame = decodeBatchFrame

// DecodeSnapshotFrame exposes the binary snapshot parser (without
// validation) to the tests.
var DecodeSnapshotFrame = decodeSnapshotFrame
