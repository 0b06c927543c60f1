#include "server/service/stream_session.h"

#include <utility>

namespace imagefeed {

StreamSession::StreamSession(std::shared_ptr<BatchPipeline> pipeline, std::function<void()> start,
                             std::function<void()> on_end, std::function<void(const BatchResult&)> on_batch)
    : pipeline_(std::move(pipeline)),
      start_(std::move(start)),
      on_end_(std::move(on_end)),
      on_batch_(std::move(on_batch)) {}

void StreamSession::Start() {
  std::function<void()> start = std::move(start_);
  start_ = nullptr;
  if (start) start();
}

StreamSession::~StreamSession() {
  Close();  // no on_ready may reach the transport after this
  pipeline_.reset();  // its batches go back to the pool before the stream counts as ended
  if (on_end_) on_end_();
}

StreamSession::Action StreamSession::Finish(absl::Status status) {
  finished_ = true;
  Action a;
  a.kind = Action::Kind::kFinish;
  a.status = std::move(status);
  return a;
}

StreamSession::Action StreamSession::OnReady() {
  Action a = Poll();
  // The batch is this thread's until the transport gets it: no lock needed.
  if (a.kind == Action::Kind::kWrite && on_batch_) on_batch_(*a.batch);
  return a;
}

StreamSession::Action StreamSession::Poll() {
  MutexLock lock(&mu_);
  if (writing_ || finished_) return {};
  std::unique_ptr<BatchResult> batch;
  absl::Status final_status;
  switch (pipeline_->Next(&batch, &final_status)) {
    case BatchPipeline::Poll::kPending:
      return {};
    case BatchPipeline::Poll::kBatch: {
      writing_ = true;
      Action a;
      a.kind = Action::Kind::kWrite;
      a.batch = std::move(batch);
      return a;
    }
    case BatchPipeline::Poll::kDone:
      break;
  }
  return Finish(std::move(final_status));
}

StreamSession::Action StreamSession::OnWriteDone(bool ok) {
  if (!ok) pipeline_->Cancel();
  {
    MutexLock lock(&mu_);
    writing_ = false;
    if (!ok) return finished_ ? Action{} : Finish(absl::CancelledError("stream cancelled by the client"));
  }
  // Release() may schedule work and call on_ready: no session lock held.
  pipeline_->Release();
  return OnReady();
}

StreamSession::Action StreamSession::OnCancel() {
  pipeline_->Cancel();
  MutexLock lock(&mu_);
  // With a write in flight, its OnWriteDone(false) finishes the call.
  if (writing_ || finished_) return {};
  return Finish(absl::CancelledError("stream cancelled by the client"));
}

void StreamSession::Close() {
  pipeline_->Cancel();
  pipeline_->DetachListener();
}

}  // namespace imagefeed
