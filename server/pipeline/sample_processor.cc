#include "server/pipeline/sample_processor.h"

#include "common/random.h"

namespace imagefeed {

absl::Status DecodeAndResize(const std::vector<uint8_t>& file_bytes, const SampleTransform& transform,
                             int64_t sample_id, FloatImage* resized) {
  thread_local Image decoded;
  absl::Status s = DecodeImage(absl::MakeConstSpan(file_bytes), transform.decode, &decoded);
  if (!s.ok()) return s;
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
