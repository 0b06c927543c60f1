#ifndef IMAGEFEED_SERVER_SERVICE_STREAM_REQUEST_H_
#define IMAGEFEED_SERVER_SERVICE_STREAM_REQUEST_H_

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "imagefeed/v1/imagefeed.pb.h"
#include "server/dataset/dataset_index.h"
#include "server/pipeline/batch_pipeline.h"
#include "server/stats/channel_stats.h"

namespace imagefeed {

// Server-wide request limits (flags of imagefeed-server).
struct ServerLimits {
  // Largest batch tensor, in bytes; kept below the gRPC message limit.
  int64_t max_batch_bytes = int64_t{256} << 20;
  int64_t max_batch_size = 4096;
  // Largest requested output side, in pixels.
  int64_t max_side = 8192;
  // Pixel cap applied to every image's header before decoding.
  int64_t max_pixels = 100'000'000;
  // DecodeOptions::jpeg_ycc_resize of every stream: chroma-subsampled JPEGs
  // resized from their YCbCr planes (false: from their RGB decode).
  bool jpeg_ycc_resize = true;
  // Worker threads of the shared pool (for sizing prefetch).
  int threads = 1;
  // Server-wide memory budget for batch outputs and decode scratch, in bytes.
  int64_t memory_budget = int64_t{1} << 30;
  // Concurrent streams admitted; 0 = derived from memory_budget.
  int64_t max_streams = 0;
};

// Validates `request` against `dataset` (served in `color_mode`) and
// `limits` and turns it into a pipeline plan. INVALID_ARGUMENT names the
// offending field and its value (and the limit, for limits). Pure: safe to fuzz.
absl::StatusOr<BatchPlan> PlanStream(const v1::StreamBatchesRequest& request,
                                     std::shared_ptr<const DatasetIndex> dataset, ColorMode color_mode,
                                     const ServerLimits& limits);

// Identifies the epoch order a request's positions count in: the
// dataset's content fingerprint, shuffle and seed, and the split (hex).
std::string OrderFingerprint(const v1::StreamBatchesRequest& request, const DatasetIndex& dataset);

// True if the request's normalization needs the dataset's fitted statistics.
bool NeedsDatasetStats(const v1::StreamBatchesRequest& request);

}  // namespace imagefeed

#endif  // IMAGEFEED_SERVER_SERVICE_STREAM_REQUEST_H_
