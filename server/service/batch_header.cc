#include "server/service/batch_header.h"

namespace imagefeed {

v1::EvenShards EvenShardsProto(EvenShards e) {
  switch (e) {
    case EvenShards::kPad:
      return v1::EVEN_SHARDS_PAD;
    case EvenShards::kDrop:
      return v1::EVEN_SHARDS_DROP;
    case EvenShards::kNone:
      break;
  }
  return v1::EVEN_SHARDS_NONE;
}

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
  for (uint32_t i : batch.padded) header.add_padded(i);
  for (const Replacement& r : batch.replaced) {
    v1::Replacement* out = header.add_replaced();
    out->set_index(r.index);
    out->set_original_id(r.original_id);
    out->set_replacement_id(r.replacement_id);
  }
  if (batch.identity) {
    const StreamIdentity& id = *batch.identity;
    header.set_dataset_fingerprint(id.dataset_fingerprint);
    header.set_server_version(id.server_version);
    v1::Cursor* cursor = header.mutable_cursor();
    cursor->set_epoch(batch.epoch);
    cursor->set_global_start(id.global_start);
    cursor->set_world_size(id.world_size);
    cursor->set_rank(id.rank);
    cursor->set_position(batch.position + batch.span);
    cursor->set_order_fingerprint(id.order_fingerprint);
    cursor->set_even_shards(EvenShardsProto(id.even_shards));
  }
  return header;
}

}  // namespace imagefeed
