// libFuzzer target: the PGM/PPM decoder on arbitrary bytes (header peek, then decode).
#include <cstddef>
#include <cstdint>

#include "server/decode/pnm_decoder.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  imagefeed::DecodeOptions options;
  options.max_pixels = 4'000'000;
  auto span = absl::MakeConstSpan(data, size);
  imagefeed::PeekPnm(span, options).IgnoreError();
  imagefeed::Image image;
  imagefeed::DecodePnm(span, options, &image).IgnoreError();
  return 0;
}
