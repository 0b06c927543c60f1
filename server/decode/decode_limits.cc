#include "server/decode/decode_limits.h"

#include "absl/strings/str_cat.h"

namespace imagefeed {

absl::Status CheckDimensions(absl::string_view format, int64_t width, int64_t height,
                             int64_t max_pixels) {
  if (width <= 0 || height <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(format, " header has invalid dimensions ", width,
                                                   "x", height, " (zero width or height)"));
  }
  if (width > kMaxImageSide || height > kMaxImageSide) {
    return absl::InvalidArgumentError(absl::StrCat(format, " header has absurd dimensions ", width,
                                                   "x", height, " (a side exceeds 2^31-1)"));
  }
  const int64_t pixels = width * height;  // < 2^62: both sides are < 2^31
  if (pixels > max_pixels) {
    return absl::InvalidArgumentError(absl::StrCat(
        format, " image is ", width, "x", height, " = ", pixels, " pixels, more than the cap of ",
        max_pixels, " pixels (DecodeOptions::max_pixels)"));
  }
  return absl::OkStatus();
}

}  // namespace imagefeed
