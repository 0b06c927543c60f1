#ifndef IMAGEFEED_SERVER_SERVICE_STREAM_SESSION_H_
#define IMAGEFEED_SERVER_SERVICE_STREAM_SESSION_H_

#include <functional>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "common/mutex.h"
#include "server/pipeline/batch_pipeline.h"

namespace imagefeed {

// The life of one stream, without gRPC: which batch goes next, when the
// stream is finished, what a cancel does. A transport reports each event to
// one method and carries out the Action it returns. Every decision to start
// a write or to finish is taken under one lock, so at most one write is in
// flight, nothing is written after the finish, and the stream finishes
// exactly once, whatever order the events race in. Thread-safe.
class StreamSession {
 public:
  struct Action {
    enum class Kind { kNone, kWrite, kFinish };
    Kind kind = Kind::kNone;
    std::unique_ptr<BatchResult> batch;  // kWrite: send this
    absl::Status status;                 // kFinish: end the call with this
  };

  // `start` begins the pipeline's work (at Start()); `on_end` runs once when
  // the session is destroyed (admission bookkeeping); `on_batch`, if set,
  // sees every batch as it is handed to the transport (no session lock held).
  StreamSession(std::shared_ptr<BatchPipeline> pipeline, std::function<void()> start, std::function<void()> on_end,
                std::function<void(const BatchResult&)> on_batch = {});
  ~StreamSession();
  StreamSession(const StreamSession&) = delete;
  StreamSession& operator=(const StreamSession&) = delete;

  // Starts producing. Call once, when the transport is ready for on_ready.
  void Start();
  // The pipeline may have a batch or the end ready (its on_ready fired, or
  // the transport just started).
  Action OnReady() ABSL_LOCKS_EXCLUDED(mu_);
  // The write of the last kWrite batch completed; `ok` false means the
  // client is gone.
  Action OnWriteDone(bool ok) ABSL_LOCKS_EXCLUDED(mu_);
  // The client cancelled the call (or it broke).
  Action OnCancel() ABSL_LOCKS_EXCLUDED(mu_);
  // The transport is done with the call: stop the pipeline and wait for a
  // running on_ready to return. Idempotent; the destructor calls it too.
  void Close();

  // The stream's transform, including the dataset statistics (which arrive
  // after construction): read it for a batch an Action carried.
  const SampleTransform& transform() const { return pipeline_->transform(); }

 private:
  Action Finish(absl::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Action Poll() ABSL_LOCKS_EXCLUDED(mu_);

  // Constant after construction.
  std::shared_ptr<BatchPipeline> pipeline_;  // constant until destruction
  std::function<void()> start_;
  const std::function<void()> on_end_;
  const std::function<void(const BatchResult&)> on_batch_;

  Mutex mu_;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace imagefeed

#endif  // IMAGEFEED_SERVER_SERVICE_STREAM_SESSION_H_
