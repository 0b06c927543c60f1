#include "server/service/imagefeed_service.h"

#include <atomic>
#include <cstring>
#include <vector>

#include "server/service/batch_header.h"
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

// The local transport of one stream: the same StreamSession as
// BatchStreamReactor, but its pipeline assembles each batch in a slot of the
// stream's shared-memory ring (ShmSlots) and only the batch's descriptor is
// written; the slot is the client's until it acknowledges it, and the
// pipeline waits for a free slot as it waits for memory. Reads run all along
// for acknowledgements.
class LocalStreamReactor final : public grpc::ServerBidiReactor<v1::LocalClientMessage, v1::LocalServerMessage> {
 public:
  LocalStreamReactor(ImageFeedCore* core, const TokenAuth& auth, grpc::CallbackServerContext* context)
      : core_(core), peer_(context->peer()) {
    if (absl::Status allowed = auth.Check(*context); !allowed.ok()) {
      Finish(ToGrpcStatus(allowed));
      return;
    }
    StartRead(&in_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      // Before the request: nothing else will finish the call. After it, the
      // client half-closed or left: OnCancel or the session's end finishes.
      if (!begun_.load()) Finish(grpc::Status(grpc::StatusCode::CANCELLED, "no StreamBatchesRequest"));
      return;
    }
    if (!session_) {
      Begin();
      return;
    }
    HandleClientMessage();
    MaybeStart();
  }

  void OnWriteDone(bool ok) override {
    if (!started_) {  // the segment message
      started_ = true;
      {
        MutexLock lock(&mu_);
        segment_written_ = true;
        segment_ok_ = ok;
      }
      MaybeStart();
      return;
    }
    Do(session_->OnWriteDone(ok));
  }

  void OnCancel() override {
    if (!begun_.load()) return;  // the read in flight fails and finishes
    {
      MutexLock lock(&mu_);
      cancelled_ = true;
    }
    Do(session_->OnCancel());
  }

  void OnDone() override {
    if (session_) session_->Close();  // no on_ready after this
    // The ring is unlinked, unmapped and out of the budget once the pipeline
    // (owned by the session, destroyed with this reactor) lets go of it too.
    slots_.reset();
    delete this;
  }

 private:
  void Begin() {
    auto local = core_->StartLocalStream(in_.request(), [this] { Do(session_->OnReady()); }, peer_);
    if (!local.ok()) {
      Finish(ToGrpcStatus(local.status()));
      return;
    }
    slots_ = std::move(local->slots);
    session_ = std::move(local->session);
    begun_.store(true);
    v1::ShmSegment* seg = out_.mutable_segment();
    seg->set_name(slots_->name());
    seg->set_size(slots_->size());
    seg->set_slots(static_cast<uint32_t>(slots_->slots()));
    seg->set_slot_bytes(slots_->slot_bytes());
    seg->set_boot_id(HostBootId());
    StartRead(&in_);
    StartWrite(&out_);  // the session starts when it is out (OnWriteDone)
  }

  // The session starts once the segment message is out and the client has
  // mapped the segment (or the write failed: the session then ends at once).
  // Starting earlier let a short stream finish, and its ring be unlinked and
  // unmapped, before a client reading several servers in turn had opened it.
  void MaybeStart() {
    bool ok;
    {
      MutexLock lock(&mu_);
      if (session_started_ || cancelled_ || !segment_written_ || (segment_ok_ && !mapped_)) return;
      session_started_ = true;
      ok = segment_ok_;
    }
    session_->Start();
    Do(ok ? session_->OnReady() : session_->OnWriteDone(false));
  }

  // Applies the client's message, then reads the next. Acknowledged slots
  // go back to the pipeline (which may resume at once: no lock held).
  void HandleClientMessage() {
    std::vector<int> released(in_.released().begin(), in_.released().end());
    {
      MutexLock lock(&mu_);
      if (in_.mapped()) mapped_ = true;
    }
    if (in_.mapped() || in_.cannot_map()) slots_->Unlink();  // cannot_map: the client cancels next
    StartRead(&in_);  // in_ was copied out above
    for (int slot : released) slots_->Acknowledge(slot);
  }

  void Do(StreamSession::Action action) {
    switch (action.kind) {
      case StreamSession::Action::Kind::kNone:
        return;
      case StreamSession::Action::Kind::kWrite: {
        bool cancelled;
        {
          MutexLock lock(&mu_);
          cancelled = cancelled_;
        }
        if (cancelled) {
          // OnCancel ran: this write ends here, or the session would wait for it forever.
          action.batch.reset();
          Do(session_->OnWriteDone(false));
          return;
        }
        Send(std::move(action.batch));
        return;
      }
      case StreamSession::Action::Kind::kFinish:
        Finish(ToGrpcStatus(action.status));
        return;
    }
  }

  // The batch already lies in its slot: the slot becomes the client's and
  // its descriptor goes out.
  void Send(std::unique_ptr<BatchResult> batch) {
    if (!batch->data || batch->data->slot() < 0) {  // a fixed-size batch always has its slot
      Finish(grpc::Status(grpc::StatusCode::INTERNAL, "batch not assembled in a shared-memory slot"));
      return;
    }
    const int slot = batch->data->slot();
    v1::Batch* header = out_.mutable_batch();
    *header = BatchHeader(*batch, session_->transform());
    header->set_shm_slot(static_cast<uint32_t>(slot));
    header->set_shm_offset(static_cast<uint64_t>(slot) * slots_->slot_bytes());
    header->set_shm_length(batch->data->size());
    slots_->HandOver(batch->data.get());
    batch.reset();
    StartWrite(&out_);
  }

  ImageFeedCore* const core_;
  const std::string peer_;
  // Set by Begin() (on the first read), then constant until OnDone.
  std::shared_ptr<ShmSlots> slots_;
  std::unique_ptr<StreamSession> session_;
  v1::LocalClientMessage in_;  // the read in flight
  // The write in flight; only the thread whose action started it touches it.
  v1::LocalServerMessage out_;
  std::atomic<bool> begun_{false};  // slots_ and session_ are set
  bool started_ = false;  // the segment message went out; only OnWriteDone touches it
  Mutex mu_;
  // OnCancel ran: a batch handed over afterwards is dropped, not sent.
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  // MaybeStart's conditions.
  bool segment_written_ ABSL_GUARDED_BY(mu_) = false;
  bool segment_ok_ ABSL_GUARDED_BY(mu_) = false;
  bool mapped_ ABSL_GUARDED_BY(mu_) = false;
  bool session_started_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

grpc::ServerBidiReactor<v1::LocalClientMessage, v1::LocalServerMessage>* ImageFeedService::StreamBatchesLocal(
    grpc::CallbackServerContext* context) {
  return new LocalStreamReactor(core_, auth_, context);
}

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
