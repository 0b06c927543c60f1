// libFuzzer target: the JPEG decoder on arbitrary bytes (header peek, then decode).
#include <cstddef>
#include <cstdint>

#include "server/decode/jpeg_decoder.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  imagefeed::DecodeOptions options;
  options.max_pixels = 4'000'000;  // keep iterations fast; the cap logic itself is exercised
  auto span = absl::MakeConstSpan(data, size);
  imagefeed::PeekJpeg(span, options).IgnoreError();
  imagefeed::Image image;
  imagefeed::DecodeJpeg(span, options, &image).IgnoreError();
  options.apply_exif_orientation = false;
  imagefeed::DecodeJpeg(span, options, &image).IgnoreError();
  return 0;
}
