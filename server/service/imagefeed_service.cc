#include "server/service/imagefeed_service.h"

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "server/service/batch_wire.h"
#include "server/service/grpc_status.h"

namespace imagefeed {
namespace {

// Streams one pipeline's batches with exactly one write in flight.
// Decisions are taken under mu_; StartWrite/Finish are called after it is
// released, because OnDone (which deletes this) may run as soon as Finish is.
// Lock order: pipeline listener lock -> mu_ -> pipeline lock.
class BatchStreamReactor final : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  BatchStreamReactor(ImageFeedCore* core, const TokenAuth& auth, grpc::CallbackServerContext* context,
                     const grpc::ByteBuffer* raw_request)
      : buffers_(core->buffers()) {
    if (absl::Status allowed = auth.Check(*context); !allowed.ok()) {
      FinishOnce(ToGrpcStatus(allowed));
      return;
    }
    v1::StreamBatchesRequest request;
    grpc::ByteBuffer copy(*raw_request);
    grpc::Status parsed = grpc::SerializationTraits<v1::StreamBatchesRequest>::Deserialize(&copy, &request);
    if (!parsed.ok()) {
      FinishOnce(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "malformed StreamBatchesRequest"));
      return;
    }
    auto stream = core->StartStream(request, [this] { Advance(); });
    if (!stream.ok()) {
      FinishOnce(ToGrpcStatus(stream.status()));
      return;
    }
    {
      absl::MutexLock lock(&mu_);
      pipeline_ = stream->pipeline;
      transform_ = stream->transform;
    }
    Advance();
  }

  void OnWriteDone(bool ok) override {
    std::shared_ptr<BatchPipeline> pipeline;
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      pipeline = pipeline_;
    }
    if (!ok) {  // the client went away or the call was cancelled
      pipeline->Cancel();
      FinishOnce(grpc::Status(grpc::StatusCode::CANCELLED, "stream cancelled by the client"));
      return;
    }
    pipeline->Release();
    Advance();
  }

  void OnCancel() override {
    std::shared_ptr<BatchPipeline> pipeline;
    bool idle;
    {
      absl::MutexLock lock(&mu_);
      pipeline = pipeline_;
      idle = !writing_;
    }
    if (pipeline) pipeline->Cancel();
    // With a write in flight, OnWriteDone(false) finishes the call.
    if (idle) FinishOnce(grpc::Status(grpc::StatusCode::CANCELLED, "stream cancelled by the client"));
  }

  void OnDone() override {
    std::shared_ptr<BatchPipeline> pipeline;
    {
      absl::MutexLock lock(&mu_);
      pipeline = pipeline_;
    }
    if (pipeline) {
      pipeline->Cancel();
      pipeline->DetachListener();  // waits for a running on_ready to return
    }
    delete this;
  }

 private:
  // Writes the next batch if one is ready and no write is in flight, or
  // finishes the call at the end of the stream.
  void Advance() {
    enum class Action { kNone, kWrite, kFinish } action = Action::kNone;
    absl::Status final_status;
    {
      absl::MutexLock lock(&mu_);
      if (writing_ || finished_ || !pipeline_) return;
      std::unique_ptr<BatchResult> batch;
      switch (pipeline_->Next(&batch, &final_status)) {
        case BatchPipeline::Poll::kPending:
          break;
        case BatchPipeline::Poll::kBatch:
          writing_ = true;
          message_ = EncodeBatch(std::move(batch), transform_, buffers_);
          action = Action::kWrite;
          break;
        case BatchPipeline::Poll::kDone:
          finished_ = true;
          action = Action::kFinish;
          break;
      }
    }
    if (action == Action::kWrite) StartWrite(&message_);
    if (action == Action::kFinish) Finish(ToGrpcStatus(final_status));
  }

  void FinishOnce(const grpc::Status& status) {
    {
      absl::MutexLock lock(&mu_);
      if (finished_) return;
      finished_ = true;
    }
    Finish(status);
  }

  const std::shared_ptr<BufferPool> buffers_;
  absl::Mutex mu_;
  std::shared_ptr<BatchPipeline> pipeline_ ABSL_GUARDED_BY(mu_);
  SampleTransform transform_ ABSL_GUARDED_BY(mu_);
  grpc::ByteBuffer message_;  // the write in flight; touched only by the thread that set writing_
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

grpc::ServerUnaryReactor* ImageFeedService::ListDatasets(grpc::CallbackServerContext* context,
                                                         const v1::ListDatasetsRequest* request,
                                                         v1::ListDatasetsResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::Status s = auth_.Check(*context);
  if (s.ok()) s = core_->ListDatasets(*request, response);
  reactor->Finish(ToGrpcStatus(s));
  return reactor;
}

grpc::ServerUnaryReactor* ImageFeedService::GetStats(grpc::CallbackServerContext* context,
                                                     const v1::GetStatsRequest* request, v1::DatasetStats* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::Status s = auth_.Check(*context);
  if (s.ok()) s = core_->GetStats(*request, response);
  reactor->Finish(ToGrpcStatus(s));
  return reactor;
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* ImageFeedService::StreamBatches(grpc::CallbackServerContext* context,
                                                                           const grpc::ByteBuffer* request) {
  return new BatchStreamReactor(core_, auth_, context, request);
}

}  // namespace imagefeed
