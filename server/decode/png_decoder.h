#ifndef IMAGEFEED_SERVER_DECODE_PNG_DECODER_H_
#define IMAGEFEED_SERVER_DECODE_PNG_DECODER_H_

// PNG decoding with libpng 1.6. Samples are taken as stored: no gamma, sBIT,
// cHRM or ICC handling, no compositing (bKGD is ignored). Thread-safe: no
// shared state.

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/image.h"
#include "server/decode/image_decoder.h"

namespace imagefeed {

// Reads the dimensions from the IHDR chunk without running libpng.
// INVALID_ARGUMENT if the signature or IHDR is missing, a side is zero or
// above 2^31-1, or the image has more than `options.max_pixels` pixels.
absl::StatusOr<ImageHeader> PeekPng(absl::Span<const uint8_t> bytes, const DecodeOptions& options);

// Decodes `bytes` into `out`, reusing its capacity: gray and gray+alpha give
// 1 channel, everything else 3 (RGB); alpha (including palette tRNS) is
// dropped, palettes are looked up, 1/2/4-bit gray is scaled to 8 bits by bit
// replication, 16-bit stays 16-bit (native-endian samples). Every libpng
// error (bad CRC, truncated or corrupt data) is INVALID_ARGUMENT with
// libpng's message; libpng warnings are ignored (see png_decoder.cc). The
// dimensions are checked before anything is allocated. With
// options.whole_buffer_png, 8-bit non-interlaced gray, gray+alpha, RGB and
// RGBA files are inflated by libdeflate and unfiltered here (same pixels);
// anything else, and any file that path finds damaged or unusual, is decoded
// by libpng, which names the error.
absl::Status DecodePng(absl::Span<const uint8_t> bytes, const DecodeOptions& options, Image* out);

}  // namespace imagefeed

#endif  // IMAGEFEED_SERVER_DECODE_PNG_DECODER_H_
