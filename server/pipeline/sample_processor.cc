#include "server/pipeline/sample_processor.h"

namespace imagefeed {

absl::Status DecodeAndResize(const std::vector<uint8_t>& file_bytes, const SampleTransform& transform,
                             FloatImage* resized) {
  thread_local Image decoded;
  absl::Status s = DecodeImage(absl::MakeConstSpan(file_bytes), transform.decode, &decoded);
  if (!s.ok()) return s;
  int w = transform.out_width > 0 ? transform.out_width : decoded.width;
  int h = transform.out_height > 0 ? transform.out_height : decoded.height;
  ResizeToFloat(decoded, w, h, resized);
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
