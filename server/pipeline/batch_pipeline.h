#ifndef IMAGEFEED_SERVER_PIPELINE_BATCH_PIPELINE_H_
#define IMAGEFEED_SERVER_PIPELINE_BATCH_PIPELINE_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "server/dataset/dataset_index.h"
#include "server/pipeline/buffer_pool.h"
#include "server/pipeline/sample_processor.h"
#include "server/pipeline/thread_pool.h"

namespace imagefeed {

enum class OnError { kFail, kSkip };

// Everything one stream needs; validated by the caller.
struct BatchPlan {
  std::shared_ptr<const DatasetIndex> dataset;
  std::vector<int64_t> sequence;  // sample ids in delivery order
  uint64_t first_position = 0;    // position of sequence[0] in the rank's sequence
  uint64_t epoch = 0;
  int batch_size = 1;
  bool drop_last = false;
  OnError on_error = OnError::kSkip;
  SampleTransform transform;
  int max_batches_in_flight = 2;
  int64_t max_batch_bytes = int64_t{256} << 20;  // checked again for native sizes
  // Incremented for every sample decoded (server-wide metric); may be null.
  std::atomic<int64_t>* samples_decoded = nullptr;
};

// A sample left out of its batch under OnError::kSkip.
struct SkippedSample {
  int64_t sample_id = 0;
  std::string path;  // relative to the dataset root
  std::string reason;
};

// One finished batch. `data` holds the tensor; its bytes go to the wire.
struct BatchResult {
  std::unique_ptr<BufferPool::Buffer> data;
  std::vector<int64_t> shape;
  std::vector<int64_t> labels;
  std::vector<int64_t> sample_ids;
  std::vector<SkippedSample> skipped;
  uint64_t epoch = 0;
  uint64_t position = 0;
  // Samples of the rank's sequence this batch covers, delivered or skipped.
  uint64_t span = 0;
};

// Decodes and transforms one stream's samples on the shared pool and hands
// out its batches in order, with at most `max_batches_in_flight` batches
// scheduled or delivered-but-not-released, so a slow client bounds server
// memory. Thread-safe. Owned by shared_ptr: pool tasks keep it alive, so the
// owner may drop it at any time after Cancel().
class BatchPipeline : public std::enable_shared_from_this<BatchPipeline> {
 public:
  // `on_ready` is called (from a pool thread, with no lock held) whenever the
  // next batch or the end of the stream may have become available.
  // Start = Create + Begin(nullptr).
  static std::shared_ptr<BatchPipeline> Start(BatchPlan plan, ThreadPool* pool, std::shared_ptr<BufferPool> buffers,
                                              std::function<void()> on_ready);
  // A pipeline that produces nothing until Begin() or Abort() (e.g. while the
  // dataset statistics its normalization needs are being fitted).
  static std::shared_ptr<BatchPipeline> Create(BatchPlan plan, ThreadPool* pool, std::shared_ptr<BufferPool> buffers,
                                               std::function<void()> on_ready);
  // Starts producing. `dataset_stats`, if given, supplies the mean/std/min/max
  // of the plan's normalization. Call at most once, before any Next().
  void Begin(const NormalizeParams* dataset_stats);
  // Ends the stream with `status` instead of starting it.
  void Abort(absl::Status status);

  enum class Poll { kBatch, kPending, kDone };
  // kBatch: *out holds the next batch. kPending: not ready; on_ready follows.
  // kDone: the stream is over; *final_status is OK, CANCELLED or the error
  // that ended it (batches before the failing one were all delivered).
  Poll Next(std::unique_ptr<BatchResult>* out, absl::Status* final_status);

  // Called once per batch from Next() after the transport is done with it:
  // lets the pipeline schedule another batch.
  void Release();

  // Stops scheduling; queued samples are dropped. Idempotent.
  void Cancel();

  // Drops the on_ready callback (call before the callback's target dies).
  void DetachListener();

  BatchPipeline(const BatchPipeline&) = delete;
  BatchPipeline& operator=(const BatchPipeline&) = delete;

 private:
  struct Pending;
  BatchPipeline(BatchPlan plan, ThreadPool* pool, std::shared_ptr<BufferPool> buffers, std::function<void()> on_ready);

  void ScheduleMore() ABSL_LOCKS_EXCLUDED(mu_);
  void RunSample(Pending* batch, size_t slot);
  void FinishSample(Pending* batch) ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status Assemble(Pending* batch);
  void Notify() ABSL_LOCKS_EXCLUDED(listener_mu_);

  // Constant after construction, except that Begin() sets the transform's
  // dataset statistics before any task can read them.
  BatchPlan plan_;
  ThreadPool* const pool_;
  const std::shared_ptr<BufferPool> buffers_;
  const size_t sample_bytes_;  // 0 for native sizes (known only after decode)
  std::atomic<bool> cancelled_{false};

  absl::Mutex listener_mu_;
  std::function<void()> on_ready_ ABSL_GUARDED_BY(listener_mu_);

  absl::Mutex mu_;
  std::deque<std::unique_ptr<Pending>> pending_ ABSL_GUARDED_BY(mu_);  // in delivery order
  size_t next_begin_ ABSL_GUARDED_BY(mu_) = 0;                         // into plan_.sequence
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  bool failed_ ABSL_GUARDED_BY(mu_) = false;
  bool begun_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status abort_status_ ABSL_GUARDED_BY(mu_);
};

}  // namespace imagefeed

#endif  // IMAGEFEED_SERVER_PIPELINE_BATCH_PIPELINE_H_
