// libFuzzer target: the PNG decoder on arbitrary bytes (header peek, then decode), and a
// differential check: the whole-buffer path (libdeflate, filters undone in png_decoder.cc)
// must give exactly what libpng alone gives, the same pixels or the same error.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "server/decode/png_decoder.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  imagefeed::DecodeOptions options;
  options.max_pixels = 4'000'000;
  auto span = absl::MakeConstSpan(data, size);
  imagefeed::PeekPng(span, options).IgnoreError();
  imagefeed::Image image;
  const absl::Status status = imagefeed::DecodePng(span, options, &image);
  imagefeed::DecodeOptions libpng_only = options;
  libpng_only.whole_buffer_png = false;
  imagefeed::Image reference;
  const absl::Status reference_status = imagefeed::DecodePng(span, libpng_only, &reference);
  if (status != reference_status) std::abort();
  if (status.ok() && (image.width != reference.width || image.height != reference.height ||
                      image.channels != reference.channels || image.bit_depth != reference.bit_depth ||
                      image.data != reference.data)) {
    std::abort();
  }
  return 0;
}
