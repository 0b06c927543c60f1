#include "server/service/batch_wire.h"

#include <google/protobuf/io/coded_stream.h>
#include <grpcpp/support/slice.h>

#include "imagefeed/v1/imagefeed.pb.h"

namespace imagefeed {
namespace {

// Owns a tensor buffer while gRPC holds the slice that points into it.
struct SliceOwner {
  BufferPool::Pooled buffer;  // back to its pool (and budget) when destroyed
};

void DestroySliceOwner(void* arg) { delete static_cast<SliceOwner*>(arg); }

}  // namespace

grpc::ByteBuffer EncodeBatch(std::unique_ptr<BatchResult> batch, const SampleTransform& transform) {
  v1::Batch header;
  for (int64_t d : batch->shape) header.add_shape(d);
  header.set_dtype(transform.dtype == OutputDType::kUint8 ? v1::DTYPE_UINT8 : v1::DTYPE_FLOAT32);
  header.set_layout(transform.layout == TensorLayout::kNHWC ? v1::LAYOUT_NHWC : v1::LAYOUT_NCHW);
  for (int64_t l : batch->labels) header.add_labels(l);
  for (int64_t id : batch->sample_ids) header.add_sample_ids(id);
  header.set_epoch(batch->epoch);
  header.set_position(batch->position);
  header.set_span(batch->span);
  for (const SkippedSample& s : batch->skipped) {
    v1::SkippedSample* out = header.add_skipped();
    out->set_sample_id(s.sample_id);
    out->set_path(s.path);
    out->set_reason(s.reason);
  }
  std::string head = header.SerializeAsString();
  const size_t data_size = batch->data ? batch->data->size() : 0;
  // Field 1 (`data`), wire type 2 (length-delimited), then the length.
  uint8_t prefix[1 + 10];
  prefix[0] = (1 << 3) | 2;
  uint8_t* end = google::protobuf::io::CodedOutputStream::WriteVarint64ToArray(data_size, prefix + 1);
  head.append(reinterpret_cast<const char*>(prefix), static_cast<size_t>(end - prefix));
  if (data_size == 0) {
    grpc::Slice only(head);
    return grpc::ByteBuffer(&only, 1);
  }
  auto* owner = new SliceOwner{std::move(batch->data)};
  grpc::Slice slices[2] = {grpc::Slice(head),
                           grpc::Slice(owner->buffer->data(), data_size, DestroySliceOwner, owner)};
  return grpc::ByteBuffer(slices, 2);
}

}  // namespace imagefeed
