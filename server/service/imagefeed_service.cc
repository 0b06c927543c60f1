#include "server/service/imagefeed_service.h"

#include "server/service/batch_wire.h"
#include "server/service/grpc_status.h"

namespace imagefeed {
namespace {

// The gRPC adapter of one StreamSession: it reports each event to the
// session and carries out the action the session decided (under its lock).
// StartWrite/Finish are called with no lock held, because OnDone (which
// deletes this) may run as soon as Finish is.
class BatchStreamReactor final : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  BatchStreamReactor(ImageFeedCore* core, const TokenAuth& auth, grpc::CallbackServerContext* context,
                     const grpc::ByteBuffer* raw_request) {
    if (absl::Status allowed = auth.Check(*context); !allowed.ok()) {
      Finish(ToGrpcStatus(allowed));
      return;
    }
    v1::StreamBatchesRequest request;
    grpc::ByteBuffer copy(*raw_request);
    grpc::Status parsed = grpc::SerializationTraits<v1::StreamBatchesRequest>::Deserialize(&copy, &request);
    if (!parsed.ok()) {
      Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "malformed StreamBatchesRequest"));
      return;
    }
    auto session = core->StartStream(request, [this] { Do(session_->OnReady()); }, context->peer());
    if (!session.ok()) {
      Finish(ToGrpcStatus(session.status()));
      return;
    }
    session_ = *std::move(session);
    session_->Start();  // on_ready may fire from here on
    Do(session_->OnReady());
  }

  void OnWriteDone(bool ok) override { Do(session_->OnWriteDone(ok)); }

  void OnCancel() override {
    if (session_) Do(session_->OnCancel());
  }

  void OnDone() override {
    if (session_) session_->Close();  // waits for a running on_ready to return
    delete this;
  }

 private:
  void Do(StreamSession::Action action) {
    switch (action.kind) {
      case StreamSession::Action::Kind::kNone:
        return;
      case StreamSession::Action::Kind::kWrite:
        message_ = EncodeBatch(std::move(action.batch), session_->transform());
        StartWrite(&message_);
        return;
      case StreamSession::Action::Kind::kFinish:
        Finish(ToGrpcStatus(action.status));
        return;
    }
  }

  std::unique_ptr<StreamSession> session_;  // set in the constructor, then constant
  // The write in flight; only the thread whose action started it touches it.
  grpc::ByteBuffer message_;
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

grpc::ServerUnaryReactor* ImageFeedService::GetServerStatus(grpc::CallbackServerContext* context,
                                                            const v1::GetServerStatusRequest* request,
                                                            v1::ServerStatus* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::Status s = auth_.Check(*context);
  if (s.ok()) s = core_->GetServerStatus(*request, response);
  reactor->Finish(ToGrpcStatus(s));
  return reactor;
}

grpc::ServerUnaryReactor* ImageFeedService::DescribeStream(grpc::CallbackServerContext* context,
                                                           const v1::StreamBatchesRequest* request,
                                                           v1::StreamDescription* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::Status s = auth_.Check(*context);
  if (s.ok()) s = core_->DescribeStream(*request, response);
  reactor->Finish(ToGrpcStatus(s));
  return reactor;
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* ImageFeedService::StreamBatches(grpc::CallbackServerContext* context,
                                                                           const grpc::ByteBuffer* request) {
  return new BatchStreamReactor(core_, auth_, context, request);
}

}  // namespace imagefeed
