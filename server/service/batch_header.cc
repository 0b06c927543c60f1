#include "server/service/batch_header.h"

namespace imagefeed {

void SetInputNormalization(const SampleTransform& transform, v1::Batch* header) {
  if (transform.dtype != OutputDType::kUint8 || transform.normalize.mode == NormalizeMode::kNone) return;
  std::array<float, 3> scale{}, offset{};
  if (!ChannelAffine(transform.normalize, &scale, &offset)) return;  // refused by PlanStream
  for (int c = 0; c < transform.out_channels; ++c) {
    header->add_input_scale(scale[c]);
    header->add_input_offset(offset[c]);
  }
}

v1::Batch BatchHeader(const BatchResult& batch, const SampleTransform& transform) {
  v1::Batch header;
  for (int64_t d : batch.shape) header.add_shape(d);
  switch (transform.dtype) {
    case OutputDType::kUint8:
      header.set_dtype(v1::DTYPE_UINT8);
      break;
    case OutputDType::kFloat16:
      header.set_dtype(v1::DTYPE_FLOAT16);
      break;
    case OutputDType::kBFloat16:
      header.set_dtype(v1::DTYPE_BFLOAT16);
      break;
    case OutputDType::kFloat32:
      header.set_dtype(v1::DTYPE_FLOAT32);
      break;
  }
  SetInputNormalization(transform, &header);
  header.set_layout(transform.layout == TensorLayout::kNHWC ? v1::LAYOUT_NHWC : v1::LAYOUT_NCHW);
  for (int64_t l : batch.labels) header.add_labels(l);
  for (int64_t id : batch.sample_ids) header.add_sample_ids(id);
  header.set_epoch(batch.epoch);
  header.set_position(batch.position);
  header.set_span(batch.span);
  for (const SkippedSample& s : batch.skipped) {
    v1::SkippedSample* out = header.add_skipped();
    out->set_sample_id(s.sample_id);
    out->set_path(s.path);
    out->set_reason(s.reason);
  }
  return header;
}

}  // namespace imagefeed
