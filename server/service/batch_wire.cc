#include "server/service/batch_wire.h"

#include <google/protobuf/io/coded_stream.h>
#include <grpcpp/support/slice.h>

#include "server/service/batch_header.h"

namespace imagefeed {
namespace {

// Owns a tensor buffer while gRPC holds the slice that points into it.
struct SliceOwner {
  BatchBufferSource::Pooled buffer;  // back to its pool (and budget) when destroyed
};

void DestroySliceOwner(void* arg) { delete static_cast<SliceOwner*>(arg); }

}  // namespace

grpc::ByteBuffer EncodeBatch(std::unique_ptr<BatchResult> batch, const SampleTransform& transform) {
  std::string head = BatchHeader(*batch, transform).SerializeAsString();
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
