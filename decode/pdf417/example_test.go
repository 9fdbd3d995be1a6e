package pdf417_test

import (
	"fmt"
	"image"
	"image/color"

	bbpdf417 "github.com/boombuler/barcode/pdf417"

	"admit/decode/pdf417"
)

func ExampleDecodeImage() {
	bc, _ := bbpdf417.Encode("BOARDING PASS M1DOE/JANE", 2)
	b := bc.Bounds()
	// Draw it 2 px per module with a quiet zone.
	img := image.NewGray(image.Rect(0, 0, 2*b.Dx()+16, 3*b.Dy()+16))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	for y := 0; y < 3*b.Dy(); y++ {
		for x := 0; x < 2*b.Dx(); x++ {
			if r, _, _, _ := bc.At(x/2, y/3).RGBA(); r < 0x8000 {
				img.SetGray(x+8, y+8, color.Gray{})
			}
		}
	}
	res, err := pdf417.DecodeImage(img)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Text)
	// Output: BOARDING PASS M1DOE/JANE
}
