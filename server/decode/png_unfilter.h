#ifndef IMAGEFEED_SERVER_DECODE_PNG_UNFILTER_H_
#define IMAGEFEED_SERVER_DECODE_PNG_UNFILTER_H_

// PNG's row filters (PNG spec, section 9), undone for 8-bit samples of
// 1-4 bytes per pixel: the whole-buffer PNG path's last step
// (png_decoder.cc). Internal to the decode module. Thread-safe (no state).

#include <cstddef>
#include <cstdint>

namespace imagefeed {

// Undoes one row's `filter` (0-4) into `dst` (which may be `src`, or not
// overlap it): `len` bytes of `bpp` (1-4) bytes per pixel; `prior` is the
// unfiltered row above (zeros for the first). False for a filter type PNG
// does not define. Paeth on RGB and RGBA, the filter photo PNGs use for
// almost every row, runs as SIMD (Highway, chosen at run time) one pixel
// per step; the other filters are scalar.
bool UnfilterPngRow(int filter, const uint8_t* src, const uint8_t* prior, uint8_t* dst, size_t len, int bpp);

}  // namespace imagefeed

#endif  // IMAGEFEED_SERVER_DECODE_PNG_UNFILTER_H_
