#ifndef IMAGEFEED_SERVER_STATS_STATS_FITTER_H_
#define IMAGEFEED_SERVER_STATS_STATS_FITTER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "imagefeed/v1/imagefeed.pb.h"
#include "server/dataset/dataset_index.h"
#include "common/mutex.h"
#include "server/runtime/memory_budget.h"
#include "server/runtime/scheduler.h"
#include "server/stats/channel_stats.h"

namespace imagefeed {

struct FitOptions {
  ColorMode color_mode = ColorMode::kRgb;
  // Fit on a seeded sample of this many images (0 = all).
  int64_t sample_limit = 0;
  uint64_t sample_seed = 0;
  int64_t max_pixels = 100'000'000;
  // Directory of the on-disk cache ("" = no cache).
  std::string cache_dir;
};

// Fingerprint of a dataset (relative paths, sizes, mtimes) and the fitting
// options: the cache key. Hex SHA-256.
std::string StatsFingerprint(const DatasetIndex& dataset, const FitOptions& options);

// Fits one dataset's per-channel statistics on a background queue of the
// shared scheduler (streams go first), or loads them from the cache when the fingerprint matches. Fitting
// runs in fixed chunks of images merged in chunk order, so the result does
// not depend on scheduling; at most a few chunks are queued at a time, so
// streams keep being served meanwhile. Thread-safe.
class StatsFitter : public std::enable_shared_from_this<StatsFitter> {
 public:
  // `scratch`, if given, accounts each image's decoded pixels before they
  // are allocated; an image too large for it counts as failed.
  static std::shared_ptr<StatsFitter> Start(std::shared_ptr<const DatasetIndex> dataset, FitOptions options,
                                            Scheduler* scheduler, MemoryBudget* scratch = nullptr);

  // The current state: progress while fitting, the statistics when ready.
  v1::DatasetStats Snapshot() const;

  // Calls `done` once with the READY statistics or the failure: right away
  // (on this thread) if fitting has ended, else from a pool thread.
  void WhenReady(std::function<void(const absl::StatusOr<v1::DatasetStats>&)> done);

  // Stops scheduling fitting work (server shutdown); waiters get CANCELLED.
  void Cancel();

  StatsFitter(const StatsFitter&) = delete;
  StatsFitter& operator=(const StatsFitter&) = delete;

 private:
  StatsFitter(std::shared_ptr<const DatasetIndex> dataset, FitOptions options, Scheduler* scheduler,
              MemoryBudget* scratch);
  bool LoadCache() ABSL_LOCKS_EXCLUDED(mu_);
  void ScheduleChunks() ABSL_LOCKS_EXCLUDED(mu_);
  void RunChunk(size_t chunk);
  absl::Status FitImage(int64_t id, std::vector<uint8_t>* bytes, Image* image, ChannelStats* stats);
  void Finish(absl::StatusOr<v1::DatasetStats> result) ABSL_LOCKS_EXCLUDED(mu_);
  std::string CachePath() const;

  // Constant after construction.
  const std::shared_ptr<const DatasetIndex> dataset_;
  const FitOptions options_;
  const std::shared_ptr<Scheduler::Queue> queue_;
  const int workers_;
  MemoryBudget* const scratch_;
  const std::string fingerprint_;
  std::vector<int64_t> ids_;  // images to fit, ascending
  std::atomic<int64_t> fitted_{0};
  std::atomic<bool> cancelled_{false};

  mutable Mutex mu_;
  std::vector<ChannelStats> chunks_ ABSL_GUARDED_BY(mu_);
  std::vector<int64_t> chunk_failures_ ABSL_GUARDED_BY(mu_);
  size_t next_chunk_ ABSL_GUARDED_BY(mu_) = 0;
  size_t chunks_done_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t started_ns_ ABSL_GUARDED_BY(mu_) = 0;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  absl::StatusOr<v1::DatasetStats> result_ ABSL_GUARDED_BY(mu_);
  std::vector<std::function<void(const absl::StatusOr<v1::DatasetStats>&)>> waiters_ ABSL_GUARDED_BY(mu_);
};

}  // namespace imagefeed

#endif  // IMAGEFEED_SERVER_STATS_STATS_FITTER_H_
