#ifndef IMAGEFEED_SERVER_SERVICE_IMAGEFEED_CORE_H_
#define IMAGEFEED_SERVER_SERVICE_IMAGEFEED_CORE_H_

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "imagefeed/v1/imagefeed.pb.h"
#include "server/dataset/dataset_index.h"
#include "common/mutex.h"
#include "server/pipeline/batch_pipeline.h"
#include "server/runtime/buffer_pool.h"
#include "server/runtime/memory_budget.h"
#include "server/runtime/scheduler.h"
#include "server/service/stream_request.h"
#include "server/service/stream_session.h"
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
// Owns the server's runtime: the fair scheduler, the memory budget (a
// quarter for per-sample decode scratch, the rest for batch outputs) and
// stream admission. Thread-safe (its dataset map is constant after
// construction).
class ImageFeedCore {
 public:
  // `datasets` must have distinct names. `limits.threads` sizes the pool,
  // `limits.memory_budget` the memory, `limits.max_streams` admission.
  // Fitting every dataset's statistics starts at once in the background.
  ImageFeedCore(std::vector<DatasetConfig> datasets, ServerLimits limits, StatsConfig stats = {});
  ~ImageFeedCore();

  absl::Status ListDatasets(const v1::ListDatasetsRequest& request, v1::ListDatasetsResponse* response) const;

  // The dataset's statistics, or fitting progress. NOT_FOUND if not served.
  absl::Status GetStats(const v1::GetStatsRequest& request, v1::DatasetStats* response) const;

  // Admits and starts the stream `request` asks for; `on_ready` is called
  // whenever the session may have something to do (see StreamSession).
  // NOT_FOUND if the dataset is not served; INVALID_ARGUMENT for a bad field
  // (see PlanStream); RESOURCE_EXHAUSTED past max_streams. A normalization
  // that needs dataset statistics waits for them (the stream stays pending);
  // if fitting failed, the stream ends with its error. The session counts as
  // admitted until it is destroyed.
  absl::StatusOr<std::unique_ptr<StreamSession>> StartStream(const v1::StreamBatchesRequest& request,
                                                             std::function<void()> on_ready);

  const std::shared_ptr<BufferPool>& buffers() const { return buffers_; }
  const ServerLimits& limits() const { return limits_; }
  // Samples read and decoded so far, by all streams (a cancelled stream stops adding).
  int64_t samples_decoded() const { return samples_decoded_.load(); }
  // Streams admitted and not yet ended.
  int64_t active_streams() const ABSL_LOCKS_EXCLUDED(mu_);
  int64_t max_streams() const { return max_streams_; }
  // Waits until no stream is active (or `timeout` passes); returns true if idle.
  bool WaitUntilIdle(std::chrono::milliseconds timeout) ABSL_LOCKS_EXCLUDED(mu_);
  const MemoryBudget& batch_budget() const { return batch_budget_; }
  const MemoryBudget& scratch_budget() const { return scratch_budget_; }
  const Scheduler& scheduler() const { return pool_; }

 private:
  // Constant after construction.
  struct Served {
    DatasetConfig config;
    std::shared_ptr<StatsFitter> stats;
  };
  absl::StatusOr<const Served*> Find(const std::string& name) const;
  absl::Status Admit() ABSL_LOCKS_EXCLUDED(mu_);
  void EndStream() ABSL_LOCKS_EXCLUDED(mu_);
  void LogSkip(const std::string& dataset, const SkippedSample& skipped) ABSL_LOCKS_EXCLUDED(mu_);
  void WaitForStats(const Served& served, std::shared_ptr<BatchPipeline> pipeline);
  void TrimWhenIdle() ABSL_LOCKS_EXCLUDED(mu_);

  // Constant after construction.
  const ServerLimits limits_;
  const int64_t max_streams_;
  MemoryBudget batch_budget_;
  MemoryBudget scratch_budget_;
  std::shared_ptr<BufferPool> buffers_;
  std::atomic<int64_t> samples_decoded_{0};
  Scheduler pool_;  // after the budgets: its workers stop before they go
  std::map<std::string, Served> datasets_;

  mutable Mutex mu_;
  CondVar idle_;
  int64_t active_streams_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t skips_logged_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t skips_total_ ABSL_GUARDED_BY(mu_) = 0;
  std::chrono::steady_clock::time_point last_skip_log_ ABSL_GUARDED_BY(mu_);
  // Counts transitions to idle; the trimmer gives memory back once the
  // server has stayed idle for a moment (gRPC frees a call's memory after
  // the call's end reaches us).
  int64_t idle_epoch_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread trimmer_;  // last member: started last, joined first
};

}  // namespace imagefeed

#endif  // IMAGEFEED_SERVER_SERVICE_IMAGEFEED_CORE_H_
