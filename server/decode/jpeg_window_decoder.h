#ifndef IMAGEFEED_SERVER_DECODE_JPEG_WINDOW_DECODER_H_
#define IMAGEFEED_SERVER_DECODE_JPEG_WINDOW_DECODER_H_

// Partial JPEG decoding with libjpeg's own API (TurboJPEG 2.1 has no
// cropping): only the iMCU columns a window touches are run through the
// IDCT and colour conversion (jpeg_crop_scanline), rows above it are
// skipped (jpeg_skip_scanlines) and decoding stops after its last row.
// Optionally the IDCT scales by 1/2, 1/4 or 1/8 (libjpeg's DCT scaling).
// Thread-safe: each thread keeps its own decompressor and scratch.

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/image.h"
#include "server/decode/image_decoder.h"

namespace imagefeed {

// Decodes `window` (of the stored image, at full scale) of an 8-bit JPEG
// whose header `header` (from PeekJpeg) describes, at 1/`scale_denom` of
// its size (1, 2, 4 or 8), into `out` (gray: 1 channel, otherwise RGB, as
// DecodeJpeg). `out` holds a slightly larger, iMCU-aligned window; on
// success `*in_out` is the rectangle of `out` that is `window`: at scale 1
// its pixels equal DecodeJpeg's at the same place bit for bit; scaled, its
// edges are rounded to whole scaled pixels. INVALID_ARGUMENT if `window` is
// empty or not inside the image, or `scale_denom` is not 1, 2, 4 or 8;
// libjpeg errors and warnings inside the decoded rows are INVALID_ARGUMENT
// errors too (data below the window is never read, so a file truncated
// there decodes). Ignores EXIF orientation (DecodeImageWindow maps the
// window of an oriented image to the stored one).
absl::Status DecodeJpegWindow(absl::Span<const uint8_t> bytes, const ImageHeader& header, const PixelRect& window,
                              int scale_denom, Image* out, PixelRect* in_out);

// Upper bound of the bytes of `out` DecodeJpegWindow writes for `window` at
// 1/`scale_denom` (the window widened to whole iMCUs plus edge margins).
size_t JpegWindowBytes(const ImageHeader& header, const PixelRect& window, int scale_denom);

// Decodes a whole JPEG into its YCbCr planes as stored (libjpeg's raw data
// output, the same accurate IDCT as DecodeJpeg): no chroma upsampling and no
// colour conversion, which are about 15 % of a full decode of a 4:2:0 photo.
// Applies to 8-bit, 3-component YCbCr JPEGs whose chroma is subsampled
// across (4:2:2 and 4:2:0: luma sampled 2x1 or 2x2, chroma 1x1) and whose
// planes (padded to whole blocks) fit in `max_bytes`; for any other JPEG returns false with
// nothing decoded, so the caller decodes it as usual. `out->data` grows to
// exactly the planes' bytes (never beyond `max_bytes`). Reads to the end of
// the image, so a truncated file is INVALID_ARGUMENT as with DecodeJpeg;
// libjpeg errors and warnings are INVALID_ARGUMENT errors. Ignores EXIF
// orientation (the caller takes this path only for images stored upright).
absl::StatusOr<bool> DecodeJpegYcc(absl::Span<const uint8_t> bytes, const ImageHeader& header, size_t max_bytes,
                                   YccImage* out);

// Heap bytes held by the calling thread's window-decode scratch (the CMYK
// buffer), and its release.
size_t ThreadJpegWindowScratchBytes();
void ReleaseJpegWindowScratch();

}  // namespace imagefeed

#endif  // IMAGEFEED_SERVER_DECODE_JPEG_WINDOW_DECODER_H_
