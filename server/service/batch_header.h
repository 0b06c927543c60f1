#ifndef IMAGEFEED_SERVER_SERVICE_BATCH_HEADER_H_
#define IMAGEFEED_SERVER_SERVICE_BATCH_HEADER_H_

#include "imagefeed/v1/imagefeed.pb.h"
#include "server/pipeline/batch_pipeline.h"
#include "server/pipeline/sample_processor.h"

namespace imagefeed {

// Every field of `batch`'s v1::Batch message except `data`: shape, dtype,
// layout, labels, sample ids, epoch, position, span, skipped samples.
v1::Batch BatchHeader(const BatchResult& batch, const SampleTransform& transform);

}  // namespace imagefeed

#endif  // IMAGEFEED_SERVER_SERVICE_BATCH_HEADER_H_
