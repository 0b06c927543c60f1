#ifndef IMAGEFEED_SERVER_PIPELINE_BATCH_PIPELINE_H_
#define IMAGEFEED_SERVER_PIPELINE_BATCH_PIPELINE_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "common/mutex.h"
#include "server/dataset/dataset_index.h"
#include "server/pipeline/sample_order.h"
#include "server/pipeline/sample_processor.h"
#include "server/runtime/buffer_pool.h"
#include "server/runtime/memory_budget.h"
#include "server/runtime/metrics.h"
#include "server/runtime/scheduler.h"

namespace imagefeed {

enum class OnError { kFail, kSkip };

// A sample left out of its batch under OnError::kSkip.
struct SkippedSample {
  int64_t sample_id = 0;
  std::string path;  // relative to the dataset root
  std::string reason;
};

// What a stream's batches carry besides their samples: where the stream
// stands in the epoch (for the cursor) and what it serves. Constant.
struct StreamIdentity {
  std::string dataset_fingerprint;
  std::string order_fingerprint;
  std::string server_version;
  uint64_t global_start = 0;
  uint32_t rank = 0;
  uint32_t world_size = 1;
  EvenShards even_shards = EvenShards::kNone;
};

// Everything one stream needs; validated by the caller.
struct BatchPlan {
  std::shared_ptr<const DatasetIndex> dataset;
  std::vector<int64_t> sequence;    // sample ids of the batches below, in delivery order
  std::vector<BatchSlice> batches;  // what this stream delivers, in order
  uint64_t first_position = 0;      // where the stream starts in the rank's sequence
  uint64_t rank_positions = 0;      // length of the rank's sequence
  // Rank positions from here on hold padded repeats (EvenShards::kPad).
  uint64_t first_padded = UINT64_MAX;
  uint64_t epoch = 0;
  int batch_size = 1;
  OnError on_error = OnError::kSkip;
  // Full batches: a failed sample is replaced by a draw from
  // `replacement_pool` keyed by (replacement_seed, position, attempt), the
  // same on every server. Only with a fixed output size and kSkip.
  bool fill_skipped = false;
  std::shared_ptr<const std::vector<int64_t>> replacement_pool;
  uint64_t replacement_seed = 0;
  std::shared_ptr<const StreamIdentity> identity = std::make_shared<StreamIdentity>();
  // Under kSkip: once at least kMinSamplesForSkipBudget samples were
  // delivered or skipped, a skipped fraction above this ends the stream
  // with DATA_LOSS; a stream that skipped every sample always ends so
  // (unless this is >= 1).
  double max_skip_fraction = 0.01;
  SampleTransform transform;
  int max_batches_in_flight = 2;
  int64_t max_batch_bytes = int64_t{256} << 20;
  // Incremented for every sample decoded (server-wide metric); may be null.
  std::atomic<int64_t>* samples_decoded = nullptr;
  // Called for every skipped sample (server log); may be empty.
  std::function<void(const SkippedSample&)> on_skip;
  // Stage times and counts of this stream (and the server's); may be null.
  std::shared_ptr<StreamMetrics> metrics;
};

inline constexpr int64_t kMinSamplesForSkipBudget = 100;
// Draws per failed sample under fill_skipped before the slot stays empty.
inline constexpr int kMaxReplacementDraws = 8;

// The sample that replaces a failed one at rank position `position`, draw
// `attempt` (0-based): deterministic in its arguments.
int64_t ReplacementFor(const std::vector<int64_t>& pool, uint64_t seed, uint64_t position, int attempt);

// A failed sample replaced under fill_skipped.
struct Replacement {
  uint32_t index = 0;  // in the batch
  int64_t original_id = 0;
  int64_t replacement_id = 0;
};

// One finished batch. `data` holds the tensor; its bytes go to the wire.
struct BatchResult {
  BatchBufferSource::Pooled data;
  std::vector<int64_t> shape;
  std::vector<int64_t> labels;
  std::vector<int64_t> sample_ids;
  std::vector<SkippedSample> skipped;
  uint64_t epoch = 0;
  uint64_t position = 0;
  // Samples of the rank's sequence this batch covers, delivered or skipped.
  uint64_t span = 0;
  std::vector<uint32_t> padded;  // indices of padded repeats
  std::vector<Replacement> replaced;
  std::shared_ptr<const StreamIdentity> identity;
};

// Where a pipeline's work runs and what memory it may take. The pointers
// must outlive every pipeline made with them.
struct PipelineRuntime {
  Scheduler* scheduler = nullptr;
  // Batch outputs: the server's BufferPool (charged to its budget), or the
  // slots of a local stream's shared-memory ring (ShmSlots).
  std::shared_ptr<BatchBufferSource> buffers;
  MemoryBudget* scratch = nullptr;      // per-sample decode/resize scratch
};

// Decodes and transforms one stream's samples on its own scheduler queue and
// hands out its batches in order, with at most `max_batches_in_flight`
// batches scheduled or delivered-but-not-released, so a slow client bounds
// server memory. Every batch's output bytes are charged to the buffer pool's
// budget before they are allocated (a batch waits for room), and every
// sample's scratch to the scratch budget, sized from the image header before
// any pixel is decoded. Native-size batches (no output size) first read every
// sample's header, so a batch that cannot fit is refused before decoding.
// Thread-safe. Owned by shared_ptr: tasks keep it alive, so the owner may
// drop it at any time after Cancel().
class BatchPipeline : public std::enable_shared_from_this<BatchPipeline> {
 public:
  // `on_ready` is called (from any thread, with no pipeline lock held)
  // whenever the next batch or the end of the stream may have become
  // available. Nothing is produced until Begin() or Abort().
  static std::shared_ptr<BatchPipeline> Create(BatchPlan plan, PipelineRuntime runtime,
                                               std::function<void()> on_ready);
  // Starts producing. `dataset_stats`, if given, supplies the mean/std/min/max
  // of the plan's normalization. Call at most once, before any Next().
  void Begin(const NormalizeParams* dataset_stats);
  // Ends the stream with `status` instead of starting it.
  void Abort(absl::Status status);

  // The plan's transform, with the statistics Begin() set. Read it only for a
  // batch Next() returned (Next() locks after Begin() wrote them).
  const SampleTransform& transform() const { return plan_.transform; }

  enum class Poll { kBatch, kPending, kDone };
  // kBatch: *out holds the next batch. kPending: not ready; on_ready follows.
  // kDone: the stream is over; *final_status is OK, CANCELLED or the error
  // that ended it (batches before the failing one were all delivered).
  Poll Next(std::unique_ptr<BatchResult>* out, absl::Status* final_status);

  // Called once per batch from Next() after the transport is done with it:
  // lets the pipeline schedule another batch.
  void Release();

  // Batches complete and next in order, not yet taken by Next(): how far
  // ahead of the client the server is.
  int ReadyBatches() ABSL_LOCKS_EXCLUDED(mu_);

  // Stops scheduling and drops the queued samples. Idempotent.
  void Cancel();

  // Drops the on_ready callback; waits for a running one to return. Call
  // before the callback's target dies.
  void DetachListener();

  BatchPipeline(const BatchPipeline&) = delete;
  BatchPipeline& operator=(const BatchPipeline&) = delete;

 private:
  struct Pending;
  BatchPipeline(BatchPlan plan, PipelineRuntime runtime, std::function<void()> on_ready);

  void ScheduleMore() ABSL_LOCKS_EXCLUDED(mu_);
  bool ScheduleOnce() ABSL_LOCKS_EXCLUDED(mu_);
  void PeekSample(Pending* batch, size_t slot);
  void FinishPeek(Pending* batch) ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status SizeNativeBatch(Pending* batch);
  void RunSample(Pending* batch, size_t slot);
  absl::Status GuardedMakeSample(Pending* batch, size_t slot, int64_t id);
  absl::Status MakeSample(Pending* batch, size_t slot, int64_t id);
  absl::Status DecodeIntoSlot(Pending* batch, size_t slot, int64_t id, SampleScratch* scratch,
                              SampleTimings* timings);
  void FinishSample(Pending* batch) ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status Assemble(Pending* batch);
  absl::Status ChargeSkips(const BatchResult& batch) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Complete(Pending* batch, absl::Status status) ABSL_LOCKS_EXCLUDED(mu_);
  std::string SamplePath(Pending* batch, size_t slot) const;
  void Notify() ABSL_LOCKS_EXCLUDED(listener_mu_);

  // Constant after construction, except that Begin() sets the transform's
  // dataset statistics before any task can read them.
  BatchPlan plan_;
  const PipelineRuntime runtime_;
  const std::shared_ptr<Scheduler::Queue> queue_;
  const size_t sample_bytes_;  // 0 for native sizes (known from the headers)
  std::atomic<bool> cancelled_{false};

  Mutex listener_mu_;
  std::function<void()> on_ready_ ABSL_GUARDED_BY(listener_mu_);

  Mutex mu_;
  std::deque<std::unique_ptr<Pending>> pending_ ABSL_GUARDED_BY(mu_);  // in delivery order
  size_t next_batch_ ABSL_GUARDED_BY(mu_) = 0;                         // into plan_.batches
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  bool failed_ ABSL_GUARDED_BY(mu_) = false;
  bool begun_ ABSL_GUARDED_BY(mu_) = false;
  // ScheduleMore() runs on one thread at a time; a call meanwhile asks it to
  // look again instead of waiting.
  bool scheduling_ ABSL_GUARDED_BY(mu_) = false;
  bool reschedule_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status abort_status_ ABSL_GUARDED_BY(mu_);
  // The skip budget, over delivered batches in order.
  int64_t samples_seen_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t samples_skipped_ ABSL_GUARDED_BY(mu_) = 0;
  std::deque<SkippedSample> recent_skips_ ABSL_GUARDED_BY(mu_);
  // When Next() last handed out a batch (wait-for-client accounting).
  std::chrono::steady_clock::time_point last_taken_ ABSL_GUARDED_BY(mu_);
};

}  // namespace imagefeed

#endif  // IMAGEFEED_SERVER_PIPELINE_BATCH_PIPELINE_H_
