#ifndef IMAGEFEED_SERVER_DECODE_DECODE_LIMITS_H_
#define IMAGEFEED_SERVER_DECODE_DECODE_LIMITS_H_

// The dimension check every decoder runs on header values before it
// allocates anything, so that a forged header cannot make us OOM.

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace imagefeed {

// Largest side we accept: PNG's own limit (2^31 - 1), and what fits `int`.
inline constexpr int64_t kMaxImageSide = 0x7fffffff;

// Returns OK if a `width` x `height` image of `format` ("JPEG", "PNG") may be
// decoded under `max_pixels`; otherwise INVALID_ARGUMENT naming the
// dimensions and, for the pixel cap, the cap.
absl::Status CheckDimensions(absl::string_view format, int64_t width, int64_t height,
                             int64_t max_pixels);

}  // namespace imagefeed

#endif  // IMAGEFEED_SERVER_DECODE_DECODE_LIMITS_H_
