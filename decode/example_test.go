package decode_test

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
	"gocv.io/x/gocv"

	"admit/decode"
)

// ticketScene draws a ticket QR on a gray 640×480 scene.
func ticketScene(text string) image.Image {
	bm, err := qrcode.NewQRCodeWriter().Encode(text, gozxing.BarcodeFormat_QR_CODE, 200, 200, nil)
	if err != nil {
		panic(err)
	}
	img := image.NewGray(image.Rect(0, 0, 640, 480))
	for i := range img.Pix {
		img.Pix[i] = 190
	}
	for y := 0; y < bm.GetHeight(); y++ {
		for x := 0; x < bm.GetWidth(); x++ {
			c := color.Gray{Y: 250}
			if bm.Get(x, y) {
				c = color.Gray{Y: 20}
			}
			img.SetGray(220+x, 140+y, c)
		}
	}
	return img
}

// A frame from a camera (here the virtual one) is decoded with the
// formats the gate's config enables.
func ExampleDecoder_Decode() {
	ctx := context.Background()
	cam := decode.NewVirtualCamera()
	defer cam.Close()
	dec := decode.NewDecoder(decode.Options{Formats: []decode.Format{decode.QR, decode.PDF417}})
	defer dec.Close()

	if err := cam.Show(ticketScene("AD1:EXAMPLE")); err != nil {
		fmt.Println(err)
		return
	}
	frame := gocv.NewMat()
	defer frame.Close()
	if err := cam.Read(ctx, &frame); err != nil {
		fmt.Println(err)
		return
	}
	sym, err := dec.Decode(ctx, frame)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(sym.Format, sym.Text)
	// Output:
	// qr AD1:EXAMPLE
}

// A gate's camera loop: a Reader owns the frame buffer and the decoder and
// returns the symbols the camera sees, until the stream ends.
func ExampleReader() {
	ctx := context.Background()
	cam := decode.NewVirtualCamera()
	r := decode.NewReader(cam, decode.Options{Formats: []decode.Format{decode.QR}})
	defer r.Close()

	if err := cam.Show(ticketScene("AD1:EXAMPLE")); err != nil {
		fmt.Println(err)
		return
	}
	sym, err := r.Read(ctx)
	fmt.Println(sym.Format, sym.Text, err)
	cam.Close() // the camera goes away
	_, err = r.Read(ctx)
	fmt.Println(errors.Is(err, decode.ErrEndOfStream))
	// Output:
	// qr AD1:EXAMPLE <nil>
	// true
}

// A pipeline decodes a camera's frames: the first pass inline, the deep
// passes on its workers. A dark-mode ticket is not read by the first pass;
// a worker reads it, and Poll (or the next Decode) returns it. A camera
// loop would not wait: Settle is for tests and evaluation.
func ExamplePipeline() {
	ctx := context.Background()
	p := decode.NewPipeline(decode.Options{Formats: []decode.Format{decode.QR}, Workers: 2})
	defer p.Close()

	img := ticketScene("AD1:DARK-MODE").(*image.Gray)
	for i, v := range img.Pix {
		img.Pix[i] = 255 - v // a dark-mode phone
	}
	frame, err := gocv.ImageGrayToMatGray(img)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer frame.Close()

	_, err = p.Decode(ctx, frame)
	fmt.Println(errors.Is(err, decode.ErrNoSymbol))
	if err := p.Settle(ctx); err != nil {
		fmt.Println(err)
		return
	}
	sym, ok := p.Poll()
	fmt.Println(sym.Text, ok)
	// Output:
	// true
	// AD1:DARK-MODE true
}
