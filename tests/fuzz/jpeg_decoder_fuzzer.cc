// libFuzzer target: the JPEG decoder on arbitrary bytes (header peek, then
// decode, whole, as a DCT-scaled window through libjpeg's own API, and as
// YCbCr planes resized from where they are stored).
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "server/decode/jpeg_decoder.h"
#include "server/decode/jpeg_window_decoder.h"
#include "server/transform/resize.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  imagefeed::DecodeOptions options;
  options.max_pixels = 4'000'000;  // keep iterations fast; the cap logic itself is exercised
  auto span = absl::MakeConstSpan(data, size);
  absl::StatusOr<imagefeed::ImageHeader> header = imagefeed::PeekJpeg(span, options);
  imagefeed::Image image;
  imagefeed::DecodeJpeg(span, options, &image).IgnoreError();
  options.apply_exif_orientation = false;
  imagefeed::DecodeJpeg(span, options, &image).IgnoreError();
  if (header.ok()) {
    // Window and scale follow the input's size, so the corpus varies them too.
    const int w = header->width, h = header->height;
    const imagefeed::PixelRect window{w / 4, h / 3, std::max(w / 2, 1), std::max(h / 2, 1)};
    imagefeed::PixelRect in_out;
    if (imagefeed::DecodeJpegWindow(span, *header, window, 1 << (size % 4), &image, &in_out).ok() &&
        (in_out.x < 0 || in_out.y < 0 || in_out.width < 1 || in_out.height < 1 ||
         in_out.x + in_out.width > image.width || in_out.y + in_out.height > image.height)) {
      __builtin_trap();  // the rectangle must lie inside what was decoded
    }
    imagefeed::YccImage ycc;
    absl::StatusOr<bool> planes = imagefeed::DecodeJpegYcc(span, *header, header->decoded_bytes(), &ycc);
    if (planes.ok() && *planes) {
      if (ycc.data.size() > header->decoded_bytes()) __builtin_trap();  // the limit it was given
      imagefeed::FloatImage resized;
      const int out_w = std::max(w / 3, 1), out_h = std::max(h / 3, 1);
      if (imagefeed::YccResizeApplies(w, h, imagefeed::SampleBox{}, out_w, out_h)) {
        imagefeed::ResizeYccToFloat(ycc, imagefeed::SampleBox{}, out_w, out_h, size % 2 == 1, &resized);
      }
    }
  }
  return 0;
}
