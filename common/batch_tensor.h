#ifndef IMAGEFEED_COMMON_BATCH_TENSOR_H_
#define IMAGEFEED_COMMON_BATCH_TENSOR_H_

#include <cstdint>
#include <cstring>

#include "absl/status/statusor.h"
#include "common/half_float.h"
#include "imagefeed/v1/imagefeed.pb.h"

namespace imagefeed {

// A checked view of a batch's tensor bytes in either layout and dtype. It
// points into the batch, which must outlive it. Thread-compatible.
struct BatchTensor {
  int64_t n = 0, c = 0, h = 0, w = 0;
  bool nhwc = false;
  enum class Element { kFloat32, kUint8, kFloat16, kBFloat16 };
  Element element = Element::kFloat32;
  const char* data = nullptr;

  // Element (sample, channel, y, x) as a double, whatever the dtype.
  double At(int64_t sample, int64_t channel, int64_t y, int64_t x) const {
    return AtFlat(nhwc ? ((sample * h + y) * w + x) * c + channel : ((sample * c + channel) * h + y) * w + x);
  }
  // Element `i` in memory order (half types converted exactly).
  double AtFlat(int64_t i) const {
    switch (element) {
      case Element::kUint8:
        return static_cast<uint8_t>(data[i]);
      case Element::kFloat16:
        return HalfBitsToFloat(Le16(i));
      case Element::kBFloat16:
        return BFloat16BitsToFloat(Le16(i));
      case Element::kFloat32:
        break;
    }
    float f;
    std::memcpy(&f, data + i * 4, 4);
    return f;
  }
  uint16_t Le16(int64_t i) const {
    return static_cast<uint16_t>(static_cast<uint8_t>(data[2 * i]) | static_cast<uint8_t>(data[2 * i + 1]) << 8);
  }
  // Channel of the element at memory index `i`.
  int64_t ChannelOf(int64_t i) const { return nhwc ? i % c : (i / (h * w)) % c; }
  int64_t size() const { return n * c * h * w; }
};

// Checks that the batch's shape has 4 non-negative dimensions (C > 0), that
// its dtype is known and that its data holds exactly that many elements of
// its dtype; else INVALID_ARGUMENT saying how many bytes the shape needs.
absl::StatusOr<BatchTensor> ViewBatch(const v1::Batch& batch);

}  // namespace imagefeed

#endif  // IMAGEFEED_COMMON_BATCH_TENSOR_H_
