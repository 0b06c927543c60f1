#ifndef IMAGEFEED_SERVER_SERVICE_IMAGEFEED_CORE_H_
#define IMAGEFEED_SERVER_SERVICE_IMAGEFEED_CORE_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "imagefeed/v1/imagefeed.pb.h"
#include "server/dataset/dataset_index.h"
#include "server/pipeline/batch_pipeline.h"
#include "server/pipeline/buffer_pool.h"
#include "server/pipeline/thread_pool.h"
#include "server/service/stream_request.h"

namespace imagefeed {

// The transport-independent service: sees only protos and absl::Status.
// Thread-safe (its dataset map is constant after construction).
class ImageFeedCore {
 public:
  // `datasets` must have distinct names. `limits.threads` sizes the pool.
  ImageFeedCore(std::vector<std::shared_ptr<const DatasetIndex>> datasets, ServerLimits limits);

  absl::Status ListDatasets(const v1::ListDatasetsRequest& request, v1::ListDatasetsResponse* response) const;

  struct Stream {
    std::shared_ptr<BatchPipeline> pipeline;
    SampleTransform transform;
  };
  // Starts producing the batches `request` asks for. NOT_FOUND if the
  // dataset is not served; INVALID_ARGUMENT for a bad field (see PlanStream).
  absl::StatusOr<Stream> StartStream(const v1::StreamBatchesRequest& request, std::function<void()> on_ready);

  const std::shared_ptr<BufferPool>& buffers() const { return buffers_; }
  const ServerLimits& limits() const { return limits_; }
  // Samples read and decoded so far, by all streams (a cancelled stream stops adding).
  int64_t samples_decoded() const { return samples_decoded_.load(); }

 private:
  // Constant after construction.
  const ServerLimits limits_;
  std::map<std::string, std::shared_ptr<const DatasetIndex>> datasets_;
  std::shared_ptr<BufferPool> buffers_;
  std::atomic<int64_t> samples_decoded_{0};
  ThreadPool pool_;
};

}  // namespace imagefeed

#endif  // IMAGEFEED_SERVER_SERVICE_IMAGEFEED_CORE_H_
