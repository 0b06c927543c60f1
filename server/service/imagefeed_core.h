#ifndef IMAGEFEED_SERVER_SERVICE_IMAGEFEED_CORE_H_
#define IMAGEFEED_SERVER_SERVICE_IMAGEFEED_CORE_H_

#include <chrono>
#include <functional>
#include <map>
#include <optional>
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
#include "server/runtime/metrics.h"
#include "server/runtime/scheduler.h"
#include "server/runtime/shm_ring.h"
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

// A copy of a batch recently handed to a transport, for a status page's
// preview: at most kPreviewSamples samples and kPreviewMaxBytes bytes.
struct BatchPreview {
  // Shape, dtype, layout, labels, sample ids, epoch, position of the copied
  // samples (shape[0] is their number); no data.
  v1::Batch header;
  std::vector<uint8_t> data;  // tensor bytes of the copied samples
  std::string dataset;
  std::vector<std::string> class_names;  // label i is class_names[i]
};
inline constexpr int kPreviewSamples = 16;
inline constexpr int64_t kPreviewMaxBytes = int64_t{16} << 20;

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

  // A stream for the local transport: its session, and the shared-memory
  // ring its batches go through (charged to the batch budget before the
  // segment is made, given back when the ring is destroyed).
  struct LocalStream {
    std::shared_ptr<ShmSlots> slots;  // also the pipeline's batch buffers
    std::unique_ptr<StreamSession> session;
  };
  // StartStream plus a ring of request.shm_slots() slots (0: the stream's
  // batches in flight + 2, at least 4) of one batch each. Errors of
  // StartStream, and: FAILED_PRECONDITION without a fixed output size or if
  // /dev/shm cannot hold the ring; INVALID_ARGUMENT for shm_slots > 64;
  // RESOURCE_EXHAUSTED if the batch budget has no room for it now (or
  // ever). Clients fall back to StreamBatches on any of these.
  absl::StatusOr<LocalStream> StartLocalStream(const v1::StreamBatchesRequest& request,
                                               std::function<void()> on_ready, const std::string& peer = "");

  // Plans `request` as StartStream would (same errors; nothing admitted or
  // decoded) and describes the stream: its length, fingerprints, version.
  absl::Status DescribeStream(const v1::StreamBatchesRequest& request, v1::StreamDescription* response) const;

  // Admits and starts the stream `request` asks for; `on_ready` is called
  // whenever the session may have something to do (see StreamSession).
  // NOT_FOUND if the dataset is not served; INVALID_ARGUMENT for a bad field
  // (see PlanStream); RESOURCE_EXHAUSTED past max_streams. A normalization
  // that needs dataset statistics waits for them (the stream stays pending);
  // if fitting failed, the stream ends with its error. The session counts as
  // admitted until it is destroyed.
  // `peer` names the client in GetServerStatus ("ipv4:127.0.0.1:5555").
  absl::StatusOr<std::unique_ptr<StreamSession>> StartStream(const v1::StreamBatchesRequest& request,
                                                             std::function<void()> on_ready,
                                                             const std::string& peer = "") {
    return StartStreamInto(request, std::move(on_ready), peer, nullptr);
  }

  // What the server is doing: version, uptime, memory against the budgets,
  // RSS, queue depth, admission counters, stage totals and latency
  // histograms, every active stream, statistics fitting per dataset.
  absl::Status GetServerStatus(const v1::GetServerStatusRequest& request, v1::ServerStatus* response) const
      ABSL_LOCKS_EXCLUDED(mu_);

  // The first samples of a batch recently handed to a transport (copied at
  // most once a second, batches of at most kPreviewMaxBytes in those
  // samples); nullopt before the first. Thread-safe.
  std::optional<BatchPreview> RecentBatch() const ABSL_LOCKS_EXCLUDED(preview_mu_);

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
  // Where a stream's batches are assembled: made after admission, from the plan.
  using BufferFactory = std::function<absl::StatusOr<std::shared_ptr<BatchBufferSource>>(const BatchPlan&)>;
  // StartStream with the batch buffers `make_buffers` returns (null: the
  // server's BufferPool); its error ends the admitted stream.
  absl::StatusOr<std::unique_ptr<StreamSession>> StartStreamInto(const v1::StreamBatchesRequest& request,
                                                                 std::function<void()> on_ready,
                                                                 const std::string& peer,
                                                                 const BufferFactory& make_buffers);
  // Constant after construction.
  struct Served {
    DatasetConfig config;
    std::shared_ptr<StatsFitter> stats;
  };
  absl::StatusOr<const Served*> Find(const std::string& name) const;
  // One admitted stream, as GetServerStatus shows it. Constant after
  // StartStream except `position` (atomic); its metrics are thread-safe.
  struct StreamRecord {
    uint64_t id = 0;
    std::string peer, dataset, request;
    uint32_t rank = 0, world_size = 1;
    uint64_t total = 0;  // length of the rank's sequence
    std::chrono::steady_clock::time_point started;
    std::shared_ptr<StreamMetrics> metrics;
    std::weak_ptr<BatchPipeline> pipeline;
    std::atomic<uint64_t> position{0};  // delivered up to here
  };
  absl::Status Admit() ABSL_LOCKS_EXCLUDED(mu_);
  void EndStream(uint64_t id) ABSL_LOCKS_EXCLUDED(mu_);
  void OnBatch(StreamRecord* record, const Served& served, const SampleTransform& transform,
               const BatchResult& batch) ABSL_LOCKS_EXCLUDED(preview_mu_);
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
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  ServerMetrics metrics_;  // thread-safe
  Scheduler pool_;  // after the budgets: its workers stop before they go
  std::map<std::string, Served> datasets_;

  mutable Mutex mu_;
  CondVar idle_;
  int64_t active_streams_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t streams_total_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t streams_refused_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t next_stream_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<uint64_t, std::shared_ptr<StreamRecord>> streams_ ABSL_GUARDED_BY(mu_);
  int64_t skips_logged_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t skips_total_ ABSL_GUARDED_BY(mu_) = 0;
  std::chrono::steady_clock::time_point last_skip_log_ ABSL_GUARDED_BY(mu_);
  // Counts transitions to idle; the trimmer gives memory back once the
  // server has stayed idle for a moment (gRPC frees a call's memory after
  // the call's end reaches us).
  int64_t idle_epoch_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;

  mutable Mutex preview_mu_;
  std::chrono::steady_clock::time_point last_preview_ ABSL_GUARDED_BY(preview_mu_);
  std::optional<BatchPreview> preview_ ABSL_GUARDED_BY(preview_mu_);

  std::thread trimmer_;  // last member: started last, joined first
};

}  // namespace imagefeed

#endif  // IMAGEFEED_SERVER_SERVICE_IMAGEFEED_CORE_H_
