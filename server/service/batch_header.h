#ifndef IMAGEFEED_SERVER_SERVICE_BATCH_HEADER_H_
#define IMAGEFEED_SERVER_SERVICE_BATCH_HEADER_H_

#include "imagefeed/v1/imagefeed.pb.h"
#include "server/pipeline/batch_pipeline.h"
#include "server/pipeline/sample_processor.h"

namespace imagefeed {

// The proto value of an even-shards mode (NONE for kNone).
v1::EvenShards EvenShardsProto(EvenShards e);

// Every field of `batch`'s v1::Batch message except `data`: shape, dtype,
// layout, labels, sample ids, epoch, position, span, skipped samples,
// input_scale/input_offset, and (from its stream's identity) the cursor and
// fingerprints.
v1::Batch BatchHeader(const BatchResult& batch, const SampleTransform& transform);

// Sets `header`'s input_scale/input_offset (one per channel) when the batch
// holds raw uint8 values of a per-channel affine normalization, so that
// value * input_scale[c] + input_offset[c] is the float32 output; leaves them
// empty when the values are the model input already.
void SetInputNormalization(const SampleTransform& transform, v1::Batch* header);

}  // namespace imagefeed

#endif  // IMAGEFEED_SERVER_SERVICE_BATCH_HEADER_H_
