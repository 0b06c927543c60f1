// The stream state machine and admission, driven without gRPC: the test
// plays the transport, reporting events in the orders gRPC may race them in.
#include "server/service/imagefeed_core.h"

#include <string>

#include "common/image_encoders.h"
#include "common/mutex.h"
#include "common/test_support.h"

namespace imagefeed {
namespace {

using Kind = StreamSession::Action::Kind;

// Counts on_ready calls; lets the test wait for the next one.
class Ready {
 public:
  std::function<void()> Callback() {
    return [this] {
      MutexLock lock(&mu_);
      ++count_;
      changed_.SignalAll();
    };
  }
  bool WaitBeyond(int seen) {
    MutexLock lock(&mu_);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (count_ <= seen) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      changed_.WaitFor(&mu_, std::chrono::milliseconds(200));
    }
    return true;
  }
  int count() {
    MutexLock lock(&mu_);
    return count_;
  }

 private:
  Mutex mu_;
  CondVar changed_;
  int count_ = 0;
};

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
  StreamSession::Action NextAction(StreamSession* session, Ready* ready) {
    for (;;) {
      const int seen = ready->count();
      StreamSession::Action a = session->OnReady();
      if (a.kind != Kind::kNone) return a;
      if (!ready->WaitBeyond(seen)) return a;
    }
  }

  ScopedTempDir dir_;
  std::shared_ptr<const DatasetIndex> index_;
};

TEST_F(ImageFeedCoreTest, SessionWritesOneBatchAtATimeThenFinishesOnce) {
  auto core = MakeCore();
  Ready ready;
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
  Ready ready;
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
  Ready ready;
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
  Ready ready;
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

TEST_F(ImageFeedCoreTest, IdleServerHoldsNoBatchMemory) {
  auto core = MakeCore();
  Ready ready;
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
  Ready ready;
  ASSERT_OK_AND_ASSIGN(auto session, core->StartStream(Request(8), ready.Callback()));
  session->Start();
  StreamSession::Action a = NextAction(session.get(), &ready);
  ASSERT_EQ(a.kind, Kind::kFinish);
  EXPECT_THAT(a.status, StatusIs(absl::StatusCode::kResourceExhausted, "--memory_budget"));
  session->Close();
}

}  // namespace
}  // namespace imagefeed
