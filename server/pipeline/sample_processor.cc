#include "server/pipeline/sample_processor.h"

#include <cstring>

#include "common/random.h"

namespace imagefeed {

namespace {

// uint8 output of a 16-bit image keeps the high byte (v >> 8), the same rule
// as libpng's png_set_strip_16 and the conformance manifests.
void ReduceTo8Bit(Image* image) {
  const size_t n = static_cast<size_t>(image->width) * image->height * image->channels;
  uint8_t* data = image->data.data();
  for (size_t i = 0; i < n; ++i) {  // in place: the write index never passes the read index
    uint16_t v;
    std::memcpy(&v, data + 2 * i, sizeof(v));
    data[i] = static_cast<uint8_t>(v >> 8);
  }
  image->bit_depth = 8;
  image->data.resize(n);
}

}  // namespace

absl::Status DecodeAndResize(const std::vector<uint8_t>& file_bytes, const SampleTransform& transform,
                             int64_t sample_id, FloatImage* resized) {
  thread_local Image decoded;
  absl::Status s = DecodeImage(absl::MakeConstSpan(file_bytes), transform.decode, &decoded);
  if (!s.ok()) return s;
  if (transform.dtype == OutputDType::kUint8 && decoded.bit_depth == 16) ReduceTo8Bit(&decoded);
  const CropPlan crop =
      PlanCrop(decoded.width, decoded.height, transform.out_width, transform.out_height, transform.augment,
               MixSeed(transform.seed, transform.epoch, static_cast<uint64_t>(sample_id), 0xA06u));
  const int w = transform.out_width > 0 ? transform.out_width : crop.width;
  const int h = transform.out_height > 0 ? transform.out_height : crop.height;
  ResizeRegionToFloat(decoded, crop.x, crop.y, crop.width, crop.height, w, h, resized);
  if (crop.flip) FlipHorizontal(resized);
  return absl::OkStatus();
}

void WriteSample(const FloatImage& resized, const SampleTransform& transform, uint8_t* slot) {
  if (transform.dtype == OutputDType::kUint8) {
    ConvertToUint8(resized, transform.out_channels, transform.layout, slot);
  } else {
    NormalizeInto(resized, transform.out_channels, transform.normalize, transform.layout,
                  reinterpret_cast<float*>(slot));
  }
}

}  // namespace imagefeed
