#ifndef IMAGEFEED_COMMON_IMAGE_ENCODERS_H_
#define IMAGEFEED_COMMON_IMAGE_ENCODERS_H_

// JPEG and PNG encoders, used by the built-in demo dataset, the CLI's
// contact sheets and test fixtures. The server never encodes on its hot path.

#include <string>

#include "absl/status/statusor.h"
#include "common/image.h"

namespace imagefeed {

enum class ChromaSubsampling { k444, k422, k420 };

// Encodes an 8-bit gray (1 channel) or RGB (3 channel) image as baseline JPEG.
// `progressive` writes a progressive JPEG instead.
absl::StatusOr<std::string> EncodeJpeg(const Image& image, int quality,
                                       ChromaSubsampling subsampling = ChromaSubsampling::k420,
                                       bool progressive = false);

// The row filter a PNG is written with: libpng's per-row choice, or one
// filter for every row (tests and benchmarks of each unfilter path).
enum class PngFilter { kAdaptive, kNone, kSub, kUp, kAverage, kPaeth };

// Encodes an image of 1-4 channels and 8 or 16 bits as PNG; `interlace`
// writes Adam7.
absl::StatusOr<std::string> EncodePng(const Image& image, bool interlace = false,
                                      PngFilter filter = PngFilter::kAdaptive);

}  // namespace imagefeed

#endif  // IMAGEFEED_COMMON_IMAGE_ENCODERS_H_
