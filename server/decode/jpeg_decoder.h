#ifndef IMAGEFEED_SERVER_DECODE_JPEG_DECODER_H_
#define IMAGEFEED_SERVER_DECODE_JPEG_DECODER_H_

// JPEG decoding with libjpeg-turbo's TurboJPEG API. Always the accurate
// integer DCT and fancy upsampling (libjpeg's defaults), so pixels equal
// djpeg's and Pillow's bit for bit. Thread-safe: each thread uses its own
// TurboJPEG handle and scratch buffers.

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/image.h"
#include "server/decode/image_decoder.h"

namespace imagefeed {

// Reads the dimensions (as stored, before EXIF orientation), channels,
// the orientation DecodeJpeg will apply and a bound of its scratch from the
// JPEG header without decoding pixels. INVALID_ARGUMENT for a corrupt header, a
// sample precision other than 8 bits ("unsupported precision"), zero
// dimensions, or more than `options.max_pixels` pixels.
absl::StatusOr<ImageHeader> PeekJpeg(absl::Span<const uint8_t> bytes, const DecodeOptions& options);

// Decodes `bytes` into `out`, reusing its capacity: grayscale JPEGs give 1
// channel, YCbCr/RGB/CMYK/YCCK give 3 (RGB), always 8-bit. CMYK/YCCK (stored
// Adobe-inverted) become RGB as round(C*K/255) per channel. With
// `options.apply_exif_orientation` the EXIF Orientation is applied, so width
// and height may be swapped relative to PeekJpeg. Every libjpeg warning
// (truncated or corrupt data) is an INVALID_ARGUMENT error, like every
// libjpeg error; `out`'s contents are then unspecified. The dimensions are
// checked before anything is allocated.
absl::Status DecodeJpeg(absl::Span<const uint8_t> bytes, const DecodeOptions& options, Image* out);

// Adobe-inverted CMYK (4 bytes a pixel) to RGB: round(C*K/255), as Pillow
// and djpeg compute it; shared with the window decoder.
void CmykToRgb(const uint8_t* cmyk, size_t pixels, uint8_t* rgb);

// Heap bytes held by the calling thread's CMYK and orientation buffers.
size_t ThreadJpegScratchBytes();

// Frees the calling thread's CMYK and orientation buffers.
void ReleaseJpegScratch();

}  // namespace imagefeed

#endif  // IMAGEFEED_SERVER_DECODE_JPEG_DECODER_H_
