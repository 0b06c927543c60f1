#ifndef IMAGEFEED_SERVER_SERVICE_BATCH_WIRE_H_
#define IMAGEFEED_SERVER_SERVICE_BATCH_WIRE_H_

#include <grpcpp/support/byte_buffer.h>

#include <memory>

#include "server/pipeline/batch_pipeline.h"
#include "server/pipeline/sample_processor.h"

namespace imagefeed {

// Serializes `batch` as an imagefeed.v1.Batch message without copying its
// tensor: the message is a header slice (every other field, then the tag and
// length of `data`) followed by a slice that owns the tensor buffer and
// returns it to its pool when gRPC releases it. Protobuf parsers accept fields
// in any order, so clients see an ordinary Batch.
grpc::ByteBuffer EncodeBatch(std::unique_ptr<BatchResult> batch, const SampleTransform& transform);

}  // namespace imagefeed

#endif  // IMAGEFEED_SERVER_SERVICE_BATCH_WIRE_H_
