package decode

import (
	"context"
	"errors"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"gocv.io/x/gocv"
)

// ErrEndOfStream is returned by a Source that has no more frames (end of a
// video file or image folder, or a closed virtual camera).
var ErrEndOfStream = errors.New("decode: end of stream")

// Source yields camera frames. Read fills dst with the next frame, reusing
// its buffer where the backend allows.
type Source interface {
	Read(ctx context.Context, dst *gocv.Mat) error
	Close() error
}

// CaptureOpts configures a capture source. Zero values keep the device's
// defaults.
type CaptureOpts struct {
	Width, Height int
	FPS           float64
}

// Open opens a capture source from a spec:
//   - "0", "1", ...: a V4L2 device by index;
//   - "/dev/videoN": a V4L2 device by path;
//   - a directory: the images in it in name order (png, jpg, jpeg, bmp);
//   - anything else: a video file or stream URL understood by OpenCV.
func Open(spec string, opts CaptureOpts) (Source, error) {
	if spec == "" {
		return nil, errors.New("decode: open: empty source")
	}
	if n, err := strconv.Atoi(spec); err == nil {
		vc, err := gocv.VideoCaptureDevice(n)
		if err != nil {
			return nil, fmt.Errorf("decode: open camera %d: %w", n, err)
		}
		return newVideo(vc, spec, opts), nil
	}
	if st, err := os.Stat(spec); err == nil && st.IsDir() {
		return openFolder(spec)
	}
	vc, err := gocv.VideoCaptureFile(spec)
	if err != nil {
		return nil, fmt.Errorf("decode: open %s: %w", spec, err)
	}
	if !vc.IsOpened() {
		vc.Close()
		return nil, fmt.Errorf("decode: open %s: not a readable video", spec)
	}
	return newVideo(vc, spec, opts), nil
}

type video struct {
	vc   *gocv.VideoCapture
	name string
}

func newVideo(vc *gocv.VideoCapture, name string, opts CaptureOpts) *video {
	if opts.Width > 0 {
		vc.Set(gocv.VideoCaptureFrameWidth, float64(opts.Width))
	}
	if opts.Height > 0 {
		vc.Set(gocv.VideoCaptureFrameHeight, float64(opts.Height))
	}
	if opts.FPS > 0 {
		vc.Set(gocv.VideoCaptureFPS, opts.FPS)
	}
	return &video{vc: vc, name: name}
}

func (v *video) Read(ctx context.Context, dst *gocv.Mat) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !v.vc.Read(dst) || dst.Empty() {
		return fmt.Errorf("decode: read %s: %w", v.name, ErrEndOfStream)
	}
	return nil
}

func (v *video) Close() error { return v.vc.Close() }

// folder reads the images of a directory in name order.
type folder struct {
	dir   string
	files []string
	next  int
}

func openFolder(dir string) (*folder, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("decode: open folder: %w", err)
	}
	var files []string
	for _, e := range entries {
		switch strings.ToLower(filepath.Ext(e.Name())) {
		case ".png", ".jpg", ".jpeg", ".bmp":
			files = append(files, filepath.Join(dir, e.Name()))
		}
	}
	slices.Sort(files)
	return &folder{dir: dir, files: files}, nil
}

func (f *folder) Read(ctx context.Context, dst *gocv.Mat) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if f.next >= len(f.files) {
		return fmt.Errorf("decode: read %s: %w", f.dir, ErrEndOfStream)
	}
	name := f.files[f.next]
	f.next++
	return ReadImage(name, dst)
}

// ReadImage reads the image file name (PNG, JPEG, BMP, … as OpenCV
// decodes them) into dst as a BGR frame. Transparent pixels are laid on
// white, as a code exported with an alpha channel looks on a screen or on
// paper (OpenCV's colour loading drops the alpha channel and keeps the
// colour under it, often black).
func ReadImage(name string, dst *gocv.Mat) error {
	m := gocv.IMRead(name, gocv.IMReadUnchanged)
	defer m.Close()
	if m.Empty() {
		return fmt.Errorf("decode: read %s: not an image", name)
	}
	if m.Type() == gocv.MatTypeCV8UC4 {
		return onWhite(m, dst)
	}
	// Anything else (gray, BGR, 16-bit, EXIF-rotated JPEG) as OpenCV
	// loads it in colour.
	c := gocv.IMRead(name, gocv.IMReadColor)
	defer c.Close()
	if c.Empty() {
		return fmt.Errorf("decode: read %s: not an image", name)
	}
	c.CopyTo(dst)
	return nil
}

// onWhite composites a BGRA image onto white into dst (BGR).
func onWhite(bgra gocv.Mat, dst *gocv.Mat) error {
	if !bgra.IsContinuous() {
		c := bgra.Clone()
		defer c.Close()
		bgra = c
	}
	src, err := bgra.DataPtrUint8()
	if err != nil {
		return fmt.Errorf("decode: image pixels: %w", err)
	}
	out := make([]byte, len(src)/4*3)
	for i, j := 0, 0; i+3 < len(src); i, j = i+4, j+3 {
		a := int(src[i+3])
		for c := 0; c < 3; c++ {
			out[j+c] = uint8((int(src[i+c])*a + 255*(255-a) + 127) / 255)
		}
	}
	m, err := gocv.NewMatFromBytes(bgra.Rows(), bgra.Cols(), gocv.MatTypeCV8UC3, out)
	if err != nil {
		return fmt.Errorf("decode: image pixels: %w", err)
	}
	defer m.Close()
	m.CopyTo(dst)
	return nil
}

func (f *folder) Close() error { return nil }

// VirtualCamera is a Source fed in-process: Show puts an image in front of
// the lens and the next Read returns it as a frame; Reads then block until
// the scene changes again, as if the camera only delivered frames when
// something moved. It is the camera twin used by tests and the demo venue.
type VirtualCamera struct {
	mu      sync.Mutex // guards the fields below
	frame   gocv.Mat   // BGR; empty when nothing is shown
	fresh   bool       // frame not yet delivered
	changed chan struct{}
	closed  bool
}

// NewVirtualCamera returns a camera showing nothing.
func NewVirtualCamera() *VirtualCamera {
	return &VirtualCamera{frame: gocv.NewMat(), changed: make(chan struct{})}
}

// Show puts img in front of the camera until the next Show or Hide.
func (c *VirtualCamera) Show(img image.Image) error {
	m, err := gocv.ImageToMatRGB(img)
	if err != nil {
		return fmt.Errorf("decode: virtual camera: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.frame.Close()
	c.frame = m
	c.fresh = true
	c.signalLocked()
	return nil
}

// Hide shows an empty scene: Read blocks until the next Show.
func (c *VirtualCamera) Hide() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.frame.Close()
	c.frame = gocv.NewMat()
	c.fresh = false
	c.signalLocked()
}

func (c *VirtualCamera) signalLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// Read copies a newly shown image into dst, waiting for one if there is none.
func (c *VirtualCamera) Read(ctx context.Context, dst *gocv.Mat) error {
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return fmt.Errorf("decode: virtual camera: %w", ErrEndOfStream)
		}
		if c.fresh {
			c.fresh = false
			c.frame.CopyTo(dst)
			c.mu.Unlock()
			return nil
		}
		wait := c.changed
		c.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wait:
		}
	}
}

// Close ends the stream; pending and later Reads return ErrEndOfStream.
func (c *VirtualCamera) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed = true
		c.frame.Close()
		c.signalLocked()
	}
	return nil
}
