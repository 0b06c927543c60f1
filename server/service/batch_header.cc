#include "server/service/batch_header.h"

namespace imagefeed {

v1::Batch BatchHeader(const BatchResult& batch, const SampleTransform& transform) {
  v1::Batch header;
  for (int64_t d : batch.shape) header.add_shape(d);
  header.set_dtype(transform.dtype == OutputDType::kUint8 ? v1::DTYPE_UINT8 : v1::DTYPE_FLOAT32);
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
