#ifndef IMAGEFEED_SERVER_DECODE_IMAGE_DECODER_H_
#define IMAGEFEED_SERVER_DECODE_IMAGE_DECODER_H_

// Format-independent decoding: sniff the format from the file's first bytes
// (never from its extension), peek the header, check the pixel cap, decode.

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/image.h"

namespace imagefeed {

enum class ImageFormat { kJpeg, kPng };

struct ImageHeader {
  ImageFormat format = ImageFormat::kJpeg;
  int width = 0;   // as stored (before EXIF orientation)
  int height = 0;
};

struct DecodeOptions {
  // Images with more pixels than this are rejected from the header, before
  // any pixel buffer is allocated.
  int64_t max_pixels = 100'000'000;
  // Apply the EXIF Orientation tag of JPEGs (rotate/flip to upright).
  bool apply_exif_orientation = true;
};

// Returns the format from the magic bytes, or INVALID_ARGUMENT ("not a JPEG
// or PNG file") for anything else.
absl::StatusOr<ImageFormat> SniffFormat(absl::Span<const uint8_t> bytes);

// Reads dimensions without decoding. INVALID_ARGUMENT for corrupt headers,
// zero dimensions, or more than `options.max_pixels` pixels.
absl::StatusOr<ImageHeader> PeekImageHeader(absl::Span<const uint8_t> bytes,
                                            const DecodeOptions& options);

// Decodes a JPEG or PNG into `out` as gray (1 channel) or RGB (3 channels),
// 8-bit, or 16-bit for 16-bit PNGs; alpha is dropped, palettes expanded,
// low bit depths scaled to 8. Pixels equal the reference decoders' bit for
// bit (libjpeg-turbo's accurate DCT and fancy upsampling). Every libjpeg
// warning (e.g. truncated data) and libpng error is an INVALID_ARGUMENT
// error; `out`'s contents are then unspecified. Thread-safe (no shared state).
absl::Status DecodeImage(absl::Span<const uint8_t> bytes, const DecodeOptions& options, Image* out);

}  // namespace imagefeed

#endif  // IMAGEFEED_SERVER_DECODE_IMAGE_DECODER_H_
