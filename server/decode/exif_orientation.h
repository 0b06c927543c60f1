#ifndef IMAGEFEED_SERVER_DECODE_EXIF_ORIENTATION_H_
#define IMAGEFEED_SERVER_DECODE_EXIF_ORIENTATION_H_

// EXIF Orientation: read the tag from a JPEG APP1 segment and turn a decoded
// image upright. Values as in the EXIF 2.3 spec (tag 0x0112):
//   1 upright, 2 mirror horizontal, 3 rotate 180, 4 mirror vertical,
//   5 transpose, 6 rotate 90 CW, 7 transverse, 8 rotate 270 CW.

#include <cstdint>

#include "absl/types/span.h"
#include "common/image.h"

namespace imagefeed {

// Returns the Orientation (1..8) in `app1_payload`, the bytes of a JPEG APP1
// segment after its length field (starting with "Exif\0\0"). Returns 1 for a
// missing tag, a value outside 1..8 or a malformed block: damaged metadata
// never fails a decode. Never reads outside `app1_payload`.
int ParseExifOrientation(absl::Span<const uint8_t> app1_payload);

// Returns true if `orientation` swaps width and height (5..8).
inline bool OrientationSwapsAxes(int orientation) { return orientation >= 5 && orientation <= 8; }

// Writes `src` transformed by `orientation` into `dst` (reusing its capacity).
// `dst` must not be `src`. Orientations outside 2..8 copy `src` unchanged.
void ApplyOrientation(const Image& src, int orientation, Image* dst);

}  // namespace imagefeed

#endif  // IMAGEFEED_SERVER_DECODE_EXIF_ORIENTATION_H_
