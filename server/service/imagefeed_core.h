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
#include "server/stats/stats_fitter.h"

namespace imagefeed {

// One served dataset and how it is served.
struct DatasetConfig {
  std::shared_ptr<const DatasetIndex> index;
  ColorMode color_mode = ColorMode::kRgb;
};

// How the server fits dataset statistics.
struct StatsConfig {
  std::string cache_dir;     // "" = no cache
  int64_t sample_limit = 0;  // 0 = every image
  uint64_t sample_seed = 0;
};

// The transport-independent service: sees only protos and absl::Status.
// Thread-safe (its dataset map is constant after construction).
class ImageFeedCore {
 public:
  // `datasets` must have distinct names. `limits.threads` sizes the pool.
  // Fitting every dataset's statistics starts at once in the background.
  ImageFeedCore(std::vector<DatasetConfig> datasets, ServerLimits limits, StatsConfig stats = {});
  ~ImageFeedCore();

  absl::Status ListDatasets(const v1::ListDatasetsRequest& request, v1::ListDatasetsResponse* response) const;

  // The dataset's statistics, or fitting progress. NOT_FOUND if not served.
  absl::Status GetStats(const v1::GetStatsRequest& request, v1::DatasetStats* response) const;

  struct Stream {
    std::shared_ptr<BatchPipeline> pipeline;
    SampleTransform transform;
  };
  // Starts producing the batches `request` asks for. NOT_FOUND if the
  // dataset is not served; INVALID_ARGUMENT for a bad field (see PlanStream).
  // A normalization that needs dataset statistics waits for them (the
  // stream stays pending); if fitting failed, the stream ends with its error.
  absl::StatusOr<Stream> StartStream(const v1::StreamBatchesRequest& request, std::function<void()> on_ready);

  const std::shared_ptr<BufferPool>& buffers() const { return buffers_; }
  const ServerLimits& limits() const { return limits_; }
  // Samples read and decoded so far, by all streams (a cancelled stream stops adding).
  int64_t samples_decoded() const { return samples_decoded_.load(); }

 private:
  // Constant after construction.
  struct Served {
    DatasetConfig config;
    std::shared_ptr<StatsFitter> stats;
  };
  absl::StatusOr<const Served*> Find(const std::string& name) const;

  const ServerLimits limits_;
  std::map<std::string, Served> datasets_;
  std::shared_ptr<BufferPool> buffers_;
  std::atomic<int64_t> samples_decoded_{0};
  ThreadPool pool_;
};

}  // namespace imagefeed

#endif  // IMAGEFEED_SERVER_SERVICE_IMAGEFEED_CORE_H_
