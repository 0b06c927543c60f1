#ifndef IMAGEFEED_SERVER_DECODE_WEBP_DECODER_H_
#define IMAGEFEED_SERVER_DECODE_WEBP_DECODER_H_

// WebP decoding with libwebp (lossy VP8 and lossless VP8L, simple or
// extended VP8X files). Still images only: an animation is INVALID_ARGUMENT.
// Thread-safe: no shared state (libwebp keeps none either).

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/image.h"
#include "server/decode/image_decoder.h"

namespace imagefeed {

// Reads the canvas dimensions and features with WebPGetFeatures (which
// parses the RIFF/VP8X/VP8/VP8L headers and allocates nothing).
// INVALID_ARGUMENT for a corrupt or truncated header, an animation, zero
// dimensions or more than `options.max_pixels` pixels. The decoded Image is
// always RGB, 8-bit. decoder_scratch_bytes bounds libwebp's working memory
// (see webp_decoder.cc for what it covers).
absl::StatusOr<ImageHeader> PeekWebp(absl::Span<const uint8_t> bytes, const DecodeOptions& options);

// Decodes `bytes` into `out` (RGB, 8-bit, reusing its capacity); alpha is
// dropped (not composited), as Pillow's convert("RGB") does. libwebp writes
// straight into `out`. Every libwebp failure (truncated, corrupt,
// unsupported feature) is INVALID_ARGUMENT naming libwebp's status.
absl::Status DecodeWebp(absl::Span<const uint8_t> bytes, const DecodeOptions& options, Image* out);

}  // namespace imagefeed

#endif  // IMAGEFEED_SERVER_DECODE_WEBP_DECODER_H_
