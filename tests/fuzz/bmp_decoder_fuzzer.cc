// libFuzzer target: the BMP decoder on arbitrary bytes (header peek, then decode).
#include <cstddef>
#include <cstdint>

#include "server/decode/bmp_decoder.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  imagefeed::DecodeOptions options;
  options.max_pixels = 4'000'000;
  auto span = absl::MakeConstSpan(data, size);
  imagefeed::PeekBmp(span, options).IgnoreError();
  imagefeed::Image image;
  imagefeed::DecodeBmp(span, options, &image).IgnoreError();
  return 0;
}
