#ifndef IMAGEFEED_COMMON_IMAGE_H_
#define IMAGEFEED_COMMON_IMAGE_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/scratch_buffer.h"

namespace imagefeed {

// A decoded image: row-major HWC, interleaved channels, 8 or 16 bits per
// sample (16-bit samples are native-endian uint16_t). Thread-compatible.
// Decoders write into an existing Image and keep its capacity, so one
// per-thread scratch Image stops allocating once it has seen the largest size.
struct Image {
  int width = 0;
  int height = 0;
  int channels = 0;   // 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA (decoders emit 1 or 3)
  int bit_depth = 8;  // 8 or 16
  std::vector<uint8_t> data;

  size_t bytes_per_sample() const { return bit_depth == 16 ? 2 : 1; }
  size_t row_bytes() const { return static_cast<size_t>(width) * channels * bytes_per_sample(); }
  size_t size_bytes() const { return row_bytes() * height; }
  // Sets the geometry and resizes `data` to fit for the caller to overwrite
  // (never shrinks capacity; grows to exactly the size, see scratch_buffer.h).
  void Reset(int w, int h, int c, int depth) {
    width = w;
    height = h;
    channels = c;
    bit_depth = depth;
    ResizeForOverwrite(&data, size_bytes());
  }
  uint8_t* row(int y) { return data.data() + row_bytes() * y; }
  const uint8_t* row(int y) const { return data.data() + row_bytes() * y; }
  const uint16_t* row16(int y) const { return reinterpret_cast<const uint16_t*>(row(y)); }
  uint16_t* row16(int y) { return reinterpret_cast<uint16_t*>(row(y)); }
};

// A YCbCr image as a JPEG stores it: one plane per component, the chroma
// planes (Cb, Cr) subsampled by `h_sub` across and `v_sub` down (1 or 2),
// chroma samples centred between the luma samples they cover (JFIF).
// Planes are 8-bit, rows `stride` bytes apart inside `data`; a plane may
// have padding rows and columns beyond its width x height. Thread-compatible.
struct YccImage {
  struct Plane {
    size_t offset = 0;  // of the first row in `data`
    size_t stride = 0;  // bytes between rows
    int width = 0;      // valid samples: ceil(luma width / sub) for chroma
    int height = 0;
  };
  int width = 0;  // of the image (the luma plane)
  int height = 0;
  int h_sub = 1;
  int v_sub = 1;
  Plane planes[3];  // Y, Cb, Cr
  std::vector<uint8_t> data;

  const uint8_t* row(int plane, int y) const {
    return data.data() + planes[plane].offset + planes[plane].stride * static_cast<size_t>(y);
  }
};

}  // namespace imagefeed

#endif  // IMAGEFEED_COMMON_IMAGE_H_
