// The stream state machine and admission, driven without gRPC: the test
// plays the transport, reporting events in the orders gRPC may race them in.
#include "server/service/imagefeed_core.h"

#include <algorithm>
#include <optional>
#include <string>

#include "common/image_encoders.h"
#include "common/mutex.h"
#include "common/test_support.h"

namespace imagefeed {
namespace {

using Kind = StreamSession::Action::Kind;

class ImageFeedCoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int k = 0; k < 12; ++k) {
      Image img = MakeGradientImage(8, 6, 3);
      img.data[0] = static_cast<uint8_t>(k);
      WriteTestFile(dir_.path() + "/c/" + std::to_string(100 + k) + ".png", *EncodePng(img));
    }
    index_ = *DatasetIndex::Build("d", dir_.path());
  }
  std::unique_ptr<ImageFeedCore> MakeCore(ServerLimits limits = {}) {
    limits.threads = 2;
    return std::make_unique<ImageFeedCore>(std::vector<DatasetConfig>{{index_, ColorMode::kRgb}}, limits);
  }
  v1::StreamBatchesRequest Request(int batch_size = 4) {
    v1::StreamBatchesRequest r;
    r.set_dataset("d");
    r.set_batch_size(batch_size);
    r.set_height(6);
    r.set_width(8);
    return r;
  }
  // Polls `session` until it decides something (or 30 s pass).
  StreamSession::Action NextAction(StreamSession* session, CallbackCounter* ready) {
    for (;;) {
      const int seen = ready->count();
      StreamSession::Action a = session->OnReady();
      if (a.kind != Kind::kNone) return a;
      if (ready->WaitBeyond(seen) == seen) return a;
    }
  }

  ScopedTempDir dir_;
  std::shared_ptr<const DatasetIndex> index_;
};

TEST_F(ImageFeedCoreTest, SessionWritesOneBatchAtATimeThenFinishesOnce) {
  auto core = MakeCore();
  CallbackCounter ready;
  ASSERT_OK_AND_ASSIGN(auto session, core->StartStream(Request(), ready.Callback()));
  session->Start();
  int batches = 0;
  StreamSession::Action a = NextAction(session.get(), &ready);
  while (a.kind == Kind::kWrite) {
    ++batches;
    EXPECT_EQ(session->OnReady().kind, Kind::kNone) << "never a second write in flight";
    a.batch.reset();  // the transport is done with it
    a = session->OnWriteDone(true);
    if (a.kind == Kind::kNone) a = NextAction(session.get(), &ready);
  }
  ASSERT_EQ(a.kind, Kind::kFinish);
  EXPECT_OK(a.status);
  EXPECT_EQ(batches, 3);
  EXPECT_EQ(session->OnReady().kind, Kind::kNone) << "finished exactly once";
  EXPECT_EQ(session->OnCancel().kind, Kind::kNone);
}

TEST_F(ImageFeedCoreTest, CancelDuringAWriteFinishesOnlyAfterTheWriteCompletes) {
  auto core = MakeCore();
  CallbackCounter ready;
  ASSERT_OK_AND_ASSIGN(auto session, core->StartStream(Request(), ready.Callback()));
  session->Start();
  StreamSession::Action write = NextAction(session.get(), &ready);
  ASSERT_EQ(write.kind, Kind::kWrite);
  EXPECT_EQ(session->OnCancel().kind, Kind::kNone) << "a Finish now would race the write in flight";
  StreamSession::Action done = session->OnWriteDone(false);
  EXPECT_EQ(done.kind, Kind::kFinish);
  EXPECT_THAT(done.status, StatusIs(absl::StatusCode::kCancelled, "cancelled by the client"));
  EXPECT_EQ(session->OnReady().kind, Kind::kNone);
  session->Close();
}

TEST_F(ImageFeedCoreTest, CancelWhileIdleFinishesAtOnceAndNothingIsWrittenAfter) {
  auto core = MakeCore();
  CallbackCounter ready;
  ASSERT_OK_AND_ASSIGN(auto session, core->StartStream(Request(), ready.Callback()));
  StreamSession::Action cancel = session->OnCancel();  // before the first batch
  EXPECT_EQ(cancel.kind, Kind::kFinish);
  session->Start();
  EXPECT_EQ(session->OnReady().kind, Kind::kNone);
  EXPECT_EQ(session->OnCancel().kind, Kind::kNone);
  session->Close();
}

TEST_F(ImageFeedCoreTest, AdmissionRefusesPastMaxStreamsNamingTheLimit) {
  ServerLimits limits;
  limits.max_streams = 2;
  auto core = MakeCore(limits);
  CallbackCounter ready;
  ASSERT_OK_AND_ASSIGN(auto a, core->StartStream(Request(), ready.Callback()));
  ASSERT_OK_AND_ASSIGN(auto b, core->StartStream(Request(), ready.Callback()));
  EXPECT_EQ(core->active_streams(), 2);
  EXPECT_THAT(core->StartStream(Request(), ready.Callback()),
              StatusIs(absl::StatusCode::kResourceExhausted, "max_streams=2"));
  a->Close();
  a.reset();
  EXPECT_EQ(core->active_streams(), 1);
  ASSERT_OK_AND_ASSIGN(auto c, core->StartStream(Request(), ready.Callback()));
  b->Close();
  c->Close();
  b.reset();
  c.reset();
  EXPECT_TRUE(core->WaitUntilIdle(std::chrono::milliseconds(0)));
}

TEST_F(ImageFeedCoreTest, LocalStreamsAssembleBatchesInTheRingAndRefusalsUndoAdmission) {
  ServerLimits limits;
  limits.memory_budget = 4 << 20;  // batch budget 3 MiB
  auto core = MakeCore(limits);
  CallbackCounter ready;
  {
    ASSERT_OK_AND_ASSIGN(ImageFeedCore::LocalStream local, core->StartLocalStream(Request(), ready.Callback()));
    // Default ring: max(4, batches in flight + 2) slots of 4 x 6 x 8 x 3 float32 bytes; nothing else.
    const int64_t slot = 4 * 6 * 8 * 3 * 4;
    EXPECT_EQ(local.slots->slot_bytes(), static_cast<size_t>(slot));
    EXPECT_EQ(core->batch_budget().in_use(), slot * local.slots->slots());
    local.session->Start();
    StreamSession::Action a = NextAction(local.session.get(), &ready);
    ASSERT_EQ(a.kind, Kind::kWrite);
    ASSERT_NE(a.batch->data, nullptr);
    EXPECT_GE(a.batch->data->slot(), 0) << "written in a slot of the ring, not a pool buffer";
    a.batch.reset();
    local.session->OnCancel();
    local.session->Close();
  }
  EXPECT_EQ(core->active_streams(), 0);
  // A task that was running at the cancel still holds the pipeline, and so the ring, until it returns.
  ASSERT_TRUE(core->scheduler().WaitUntilIdle(std::chrono::seconds(30)));
  EXPECT_EQ(core->batch_budget().in_use(), 0) << "the ring goes with its last owner";
  // Refused after planning: the admission is undone, no ring is left.
  v1::StreamBatchesRequest native = Request();
  native.clear_height();
  native.clear_width();
  EXPECT_THAT(core->StartLocalStream(native, ready.Callback()),
              StatusIs(absl::StatusCode::kFailedPrecondition, "needs a fixed output size"));
  v1::StreamBatchesRequest huge = Request(4000);
  huge.set_height(64);
  huge.set_width(64);
  EXPECT_THAT(core->StartLocalStream(huge, ready.Callback()),
              StatusIs(absl::StatusCode::kResourceExhausted, "shared-memory ring"));
  v1::StreamBatchesRequest too_many = Request();
  too_many.set_shm_slots(65);
  EXPECT_THAT(core->StartLocalStream(too_many, ready.Callback()),
              StatusIs(absl::StatusCode::kInvalidArgument, "shm_slots=65 is above the limit of 64"));
  EXPECT_EQ(core->active_streams(), 0);
  EXPECT_EQ(core->batch_budget().in_use(), 0);
}

TEST_F(ImageFeedCoreTest, IdleServerHoldsNoBatchMemory) {
  auto core = MakeCore();
  CallbackCounter ready;
  {
    ASSERT_OK_AND_ASSIGN(auto session, core->StartStream(Request(2), ready.Callback()));
    session->Start();
    StreamSession::Action a = NextAction(session.get(), &ready);
    ASSERT_EQ(a.kind, Kind::kWrite);
    EXPECT_GT(core->batch_budget().in_use(), 0);
    a.batch.reset();
    session->OnCancel();
    session->Close();
  }
  EXPECT_EQ(core->active_streams(), 0);
  // A task that was running at the cancel still holds the pipeline until it returns.
  ASSERT_TRUE(core->scheduler().WaitUntilIdle(std::chrono::seconds(30)));
  EXPECT_EQ(core->batch_budget().in_use(), 0) << "pooled buffers are returned when the server goes idle";
}

TEST_F(ImageFeedCoreTest, BudgetTooSmallForOneBatchIsResourceExhausted) {
  ServerLimits limits;
  limits.memory_budget = 4000;  // 3000 for batches; a batch of 4 x 576 B fits, 8 does not
  auto core = MakeCore(limits);
  CallbackCounter ready;
  ASSERT_OK_AND_ASSIGN(auto session, core->StartStream(Request(8), ready.Callback()));
  session->Start();
  StreamSession::Action a = NextAction(session.get(), &ready);
  ASSERT_EQ(a.kind, Kind::kFinish);
  EXPECT_THAT(a.status, StatusIs(absl::StatusCode::kResourceExhausted, "--memory_budget"));
  session->Close();
}

// Plays the transport for the rest of a stream from action `a`: takes every
// batch, reports the write done; returns the final action.
StreamSession::Action Drain(StreamSession* session, StreamSession::Action a,
                            const std::function<StreamSession::Action()>& next) {
  while (a.kind == Kind::kWrite) {
    a.batch.reset();
    a = session->OnWriteDone(true);
    if (a.kind == Kind::kNone) a = next();
  }
  return a;
}

const v1::StreamStatus* FindStream(const v1::ServerStatus& status, const std::string& peer) {
  for (const auto& s : status.streams()) {
    if (s.peer() == peer) return &s;
  }
  return nullptr;
}

TEST_F(ImageFeedCoreTest, ServerStatusShowsARunningStreamAndCountsItsSamples) {
  auto core = MakeCore();
  CallbackCounter ready;
  v1::StreamBatchesRequest r = Request(4);
  r.set_rank(1);
  r.set_world_size(2);  // 6 of the 12 samples: batches of 4 and 2
  ASSERT_OK_AND_ASSIGN(auto session, core->StartStream(r, ready.Callback(), "ipv4:10.0.0.7:4242"));
  session->Start();
  StreamSession::Action first = NextAction(session.get(), &ready);
  ASSERT_EQ(first.kind, Kind::kWrite);

  v1::ServerStatus status;
  ASSERT_OK(core->GetServerStatus({}, &status));
  EXPECT_EQ(status.version(), IMAGEFEED_VERSION_FOR_TEST);
  EXPECT_EQ(status.threads(), 2);
  EXPECT_EQ(status.streams_total(), 1);
  ASSERT_EQ(status.streams_size(), 1);
  const v1::StreamStatus* s = FindStream(status, "ipv4:10.0.0.7:4242");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->dataset(), "d");
  EXPECT_EQ(s->rank(), 1u);
  EXPECT_EQ(s->world_size(), 2u);
  EXPECT_EQ(s->position(), 4u) << "the first batch (4 samples) was handed out";
  EXPECT_EQ(s->total(), 6u);
  EXPECT_THAT(s->request(), ::testing::HasSubstr("batch 4, 8x6 float32"));
  EXPECT_EQ(s->stages().batches_sent(), 1);
  EXPECT_EQ(s->stages().bytes_sent(), 4 * 8 * 6 * 3 * 4);
  EXPECT_GE(status.batch_memory_in_use(), 4 * 8 * 6 * 3 * 4);
  EXPECT_GT(status.rss_bytes(), 0);
  ASSERT_EQ(status.stage_latency_size(), 4);
  EXPECT_EQ(status.stage_latency(1).name(), "decode");
  EXPECT_EQ(status.stage_latency(1).counts_size(), status.stage_latency(1).upper_bounds_size() + 1);

  StreamSession::Action end = Drain(session.get(), std::move(first), [&] { return NextAction(session.get(), &ready); });
  ASSERT_EQ(end.kind, Kind::kFinish);
  EXPECT_OK(end.status);
  session->Close();
  session.reset();

  status.Clear();
  ASSERT_OK(core->GetServerStatus({}, &status));
  EXPECT_EQ(status.streams_size(), 0) << "an ended stream leaves the table";
  EXPECT_EQ(status.totals().samples(), 6);
  EXPECT_EQ(status.totals().batches_sent(), 2);
  EXPECT_EQ(status.totals().bytes_sent(), 6 * 8 * 6 * 3 * 4);
  EXPECT_EQ(status.totals().samples_skipped(), 0);
  EXPECT_EQ(status.stage_latency(1).count(), 6) << "one decode observation per sample";
  EXPECT_GT(status.totals().decode_seconds(), 0);
}

TEST_F(ImageFeedCoreTest, ServerStatusCountsACorruptFileAsCorrupt) {
  // A PNG signature followed by junk: the header cannot be parsed.
  WriteTestFile(dir_.path() + "/c/999.png", std::string("\x89PNG\r\n\x1a\n") + std::string(40, 'x'));
  index_ = *DatasetIndex::Build("d", dir_.path());
  auto core = MakeCore();
  CallbackCounter ready;
  ASSERT_OK_AND_ASSIGN(auto session, core->StartStream(Request(13), ready.Callback()));
  session->Start();
  StreamSession::Action end =
      Drain(session.get(), NextAction(session.get(), &ready), [&] { return NextAction(session.get(), &ready); });
  ASSERT_EQ(end.kind, Kind::kFinish);
  EXPECT_OK(end.status);
  session->Close();
  session.reset();
  v1::ServerStatus status;
  ASSERT_OK(core->GetServerStatus({}, &status));
  EXPECT_EQ(status.totals().samples(), 12);
  EXPECT_EQ(status.totals().samples_skipped(), 1);
  EXPECT_EQ(status.totals().skipped_by_reason().at("corrupt"), 1);
  EXPECT_EQ(status.totals().skipped_by_reason().at("unreadable"), 0);
}

TEST_F(ImageFeedCoreTest, AdmissionCountersInStatus) {
  ServerLimits limits;
  limits.max_streams = 1;
  auto core = MakeCore(limits);
  CallbackCounter ready;
  ASSERT_OK_AND_ASSIGN(auto a, core->StartStream(Request(), ready.Callback()));
  EXPECT_FALSE(core->StartStream(Request(), ready.Callback()).ok());
  v1::ServerStatus status;
  ASSERT_OK(core->GetServerStatus({}, &status));
  EXPECT_EQ(status.max_streams(), 1);
  EXPECT_EQ(status.streams_total(), 1);
  EXPECT_EQ(status.streams_refused(), 1);
  a->Close();
}

TEST_F(ImageFeedCoreTest, RecentBatchCopiesTheFirstSamplesOfAHandedOutBatch) {
  for (int k = 12; k < 20; ++k) {  // 20 samples: one batch of 20 is cut to 16 in the preview
    Image img = MakeGradientImage(8, 6, 3);
    img.data[0] = static_cast<uint8_t>(k);
    WriteTestFile(dir_.path() + "/c/" + std::to_string(100 + k) + ".png", *EncodePng(img));
  }
  index_ = *DatasetIndex::Build("d", dir_.path());
  auto core = MakeCore();
  EXPECT_FALSE(core->RecentBatch().has_value());
  CallbackCounter ready;
  v1::StreamBatchesRequest r = Request(20);
  r.set_dtype(v1::DTYPE_UINT8);
  r.set_layout(v1::LAYOUT_NHWC);  // then a slot holds the PNG's pixels as they are
  ASSERT_OK_AND_ASSIGN(auto session, core->StartStream(r, ready.Callback()));
  session->Start();
  StreamSession::Action a = NextAction(session.get(), &ready);
  ASSERT_EQ(a.kind, Kind::kWrite);
  std::optional<BatchPreview> p = core->RecentBatch();
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->dataset, "d");
  EXPECT_EQ(p->class_names, std::vector<std::string>{"c"});
  EXPECT_THAT(p->header.shape(), ::testing::ElementsAre(16, 6, 8, 3));
  EXPECT_EQ(p->header.dtype(), v1::DTYPE_UINT8);
  EXPECT_EQ(p->header.layout(), v1::LAYOUT_NHWC);
  ASSERT_EQ(p->header.sample_ids_size(), 16);
  EXPECT_EQ(p->header.labels_size(), 16);
  EXPECT_TRUE(p->header.data().empty());
  ASSERT_EQ(p->data.size(), 16u * 6 * 8 * 3);
  const Image reference = MakeGradientImage(8, 6, 3);
  for (int i = 0; i < 16; ++i) {
    const uint8_t* slot = p->data.data() + i * 144;
    // Sample id i is file 100+i, whose first byte was set to i.
    EXPECT_EQ(slot[0], p->header.sample_ids(i)) << i;
    EXPECT_TRUE(std::equal(slot + 1, slot + 144, reference.data.begin() + 1)) << i;
  }
  a.batch.reset();
  session->OnCancel();
  session->Close();
}

}  // namespace
}  // namespace imagefeed
