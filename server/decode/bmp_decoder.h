#ifndef IMAGEFEED_SERVER_DECODE_BMP_DECODER_H_
#define IMAGEFEED_SERVER_DECODE_BMP_DECODER_H_

// Windows BMP decoding, written here (bmp_decoder.cc says why). Supported:
// uncompressed 1/4/8-bit palette, 16/24/32-bit BI_RGB, and 16/32-bit
// BI_BITFIELDS / BI_ALPHABITFIELDS; bottom-up and top-down rows; header
// sizes 12 (OS/2 core), 40, 52, 56, 108, 124. RLE, JPEG and PNG
// compressions are INVALID_ARGUMENT "unsupported BMP compression".
// Thread-safe: no shared state.

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/image.h"
#include "server/decode/image_decoder.h"

namespace imagefeed {

// Validates every header field against the file's size (palette, bit
// masks, pixel array) and the pixel cap, without allocating. The decoded
// Image is always RGB, 8-bit; DecodeBmp needs no scratch.
absl::StatusOr<ImageHeader> PeekBmp(absl::Span<const uint8_t> bytes, const DecodeOptions& options);

// Decodes `bytes` into `out` (RGB, 8-bit, reusing its capacity), upright
// whatever the row order. Palette indices past the palette give black;
// alpha is dropped; bit-field channels of n bits scale to 8 as
// round(v * 255 / (2^n - 1)).
absl::Status DecodeBmp(absl::Span<const uint8_t> bytes, const DecodeOptions& options, Image* out);

}  // namespace imagefeed

#endif  // IMAGEFEED_SERVER_DECODE_BMP_DECODER_H_
