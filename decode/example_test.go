package decode_test

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"time"

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

// A gate reads frames from a camera (here the virtual one), decodes them
// with the formats its config enables, and debounces repeats of a code
// held in front of the camera.
func ExampleDecoder_Decode() {
	ctx := context.Background()
	cam := decode.NewVirtualCamera()
	defer cam.Close()
	dec := decode.NewDecoder(decode.Options{Formats: []decode.Format{decode.QR, decode.PDF417}})
	defer dec.Close()
	deb := decode.NewDebouncer(2 * time.Second)

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
	t0 := time.Unix(1700000000, 0)
	fmt.Println(sym.Format, sym.Text, deb.Fresh(sym.Text, t0))
	// The same code one frame later is the same presentation.
	fmt.Println(deb.Fresh(sym.Text, t0.Add(33*time.Millisecond)))
	// Output:
	// qr AD1:EXAMPLE true
	// false
}
