#include "server/pipeline/batch_pipeline.h"

#include <set>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/image_encoders.h"
#include "common/test_support.h"
#include "server/pipeline/sample_order.h"

namespace imagefeed {
namespace {

// Wakes a waiting test thread whenever the pipeline calls on_ready.
class Waker {
 public:
  std::function<void()> Callback() {
    return [this] {
      absl::MutexLock lock(&mu_);
      ++count_;
    };
  }
  // Waits until the count differs from `seen` (or 30 s pass); returns the new count.
  int WaitChange(int seen) {
    struct Arg {
      Waker* waker;
      int seen;
    } arg{this, seen};
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(
                             +[](Arg* a) ABSL_NO_THREAD_SAFETY_ANALYSIS { return a->waker->count_ != a->seen; }, &arg),
                         absl::Seconds(30));
    return count_;
  }
  int count() {
    absl::MutexLock lock(&mu_);
    return count_;
  }

 private:
  absl::Mutex mu_;
  int count_ ABSL_GUARDED_BY(mu_) = 0;
};

// A dataset of `per_class` PNG gradients in classes a and b; image k of a
// class has width 8 + k % size_variants.
std::shared_ptr<const DatasetIndex> MakeDataset(const std::string& root, int per_class, int size_variants = 1) {
  for (const char* cls : {"a", "b"}) {
    for (int k = 0; k < per_class; ++k) {
      Image img = MakeGradientImage(8 + k % size_variants, 6, 3);
      img.data[0] = static_cast<uint8_t>(k);  // make each image distinct
      auto png = EncodePng(img);
      EXPECT_OK(png);
      char name[32];
      snprintf(name, sizeof(name), "/%s/%03d.png", cls, k);
      WriteTestFile(root + name, *png);
    }
  }
  auto index = DatasetIndex::Build("t", root);
  EXPECT_OK(index);
  return *index;
}

BatchPlan MakePlan(std::shared_ptr<const DatasetIndex> ds, int batch_size, bool shuffle = false) {
  BatchPlan plan;
  OrderSpec order;
  order.num_samples = ds->num_samples();
  order.shuffle = shuffle;
  order.seed = 3;
  plan.sequence = *RankSequence(order);
  plan.dataset = std::move(ds);
  plan.batch_size = batch_size;
  plan.transform.out_height = 6;
  plan.transform.out_width = 8;
  plan.transform.normalize.mode = NormalizeMode::kNone;
  plan.transform.layout = TensorLayout::kNHWC;
  return plan;
}

struct Drained {
  std::vector<std::unique_ptr<BatchResult>> batches;
  absl::Status status;
};

Drained Drain(BatchPlan plan, ThreadPool* pool, size_t stop_after = SIZE_MAX) {
  Waker waker;
  auto buffers = std::make_shared<BufferPool>(64 << 20);
  auto p = BatchPipeline::Start(std::move(plan), pool, buffers, waker.Callback());
  Drained out;
  int seen = 0;
  for (;;) {
    std::unique_ptr<BatchResult> batch;
    auto poll = p->Next(&batch, &out.status);
    if (poll == BatchPipeline::Poll::kDone) break;
    if (poll == BatchPipeline::Poll::kPending) {
      int now = waker.WaitChange(seen);
      if (now == seen) {
        out.status = absl::DeadlineExceededError("pipeline made no progress in 30 s");
        break;
      }
      seen = now;
      continue;
    }
    out.batches.push_back(std::move(batch));
    p->Release();
    if (out.batches.size() == stop_after) {
      p->Cancel();
      out.status = absl::CancelledError("test stopped");
      break;
    }
  }
  p->DetachListener();
  return out;
}

TEST(BatchPipelineTest, DeliversEverySampleInOrderWithExactPixels) {
  ScopedTempDir dir;
  auto ds = MakeDataset(dir.path(), 10);
  ThreadPool pool(3);
  Drained d = Drain(MakePlan(ds, 4, /*shuffle=*/true), &pool);
  ASSERT_OK(d.status);
  ASSERT_EQ(d.batches.size(), 5u);  // 20 samples: 4,4,4,4,4
  std::vector<int64_t> expected = EpochOrder(20, true, 3, 0);
  std::vector<int64_t> got;
  uint64_t position = 0;
  for (const auto& b : d.batches) {
    EXPECT_EQ(b->position, position);
    position += b->span;
    EXPECT_THAT(b->shape, ::testing::ElementsAre(static_cast<int64_t>(b->sample_ids.size()), 6, 8, 3));
    for (size_t i = 0; i < b->sample_ids.size(); ++i) {
      int64_t id = b->sample_ids[i];
      got.push_back(id);
      EXPECT_EQ(b->labels[i], id / 10);
      Image src = MakeGradientImage(8, 6, 3);
      src.data[0] = static_cast<uint8_t>(id % 10);
      const float* px = reinterpret_cast<const float*>(b->data->data()) + i * 6 * 8 * 3;
      for (size_t k = 0; k < src.data.size(); ++k) ASSERT_EQ(px[k], src.data[k]) << "sample " << id << " value " << k;
    }
  }
  EXPECT_EQ(got, expected);
}

TEST(BatchPipelineTest, DropLastAndShortLastBatch) {
  ScopedTempDir dir;
  auto ds = MakeDataset(dir.path(), 5);
  ThreadPool pool(2);
  Drained d = Drain(MakePlan(ds, 3), &pool);
  ASSERT_OK(d.status);
  ASSERT_EQ(d.batches.size(), 4u);
  EXPECT_EQ(d.batches.back()->sample_ids.size(), 1u);
  BatchPlan plan = MakePlan(ds, 3);
  plan.drop_last = true;
  d = Drain(std::move(plan), &pool);
  ASSERT_OK(d.status);
  ASSERT_EQ(d.batches.size(), 3u);
}

TEST(BatchPipelineTest, CorruptFileFailsOrIsSkipped) {
  ScopedTempDir dir;
  auto ds_ok = MakeDataset(dir.path(), 4);
  WriteTestFile(dir.path() + "/a/001.png", "not an image at all");
  auto ds = *DatasetIndex::Build("t", dir.path());
  ThreadPool pool(2);
  BatchPlan strict = MakePlan(ds, 2);
  strict.on_error = OnError::kFail;
  Drained d = Drain(std::move(strict), &pool);
  EXPECT_THAT(d.status, StatusIs(absl::StatusCode::kDataLoss, "sample 1 'a/001.png'"));
  EXPECT_TRUE(d.batches.empty());  // the failing batch is the first one

  BatchPlan plan = MakePlan(ds, 2);
  plan.on_error = OnError::kSkip;
  d = Drain(std::move(plan), &pool);
  ASSERT_OK(d.status);
  std::set<int64_t> delivered;
  int skipped = 0;
  for (const auto& b : d.batches) {
    delivered.insert(b->sample_ids.begin(), b->sample_ids.end());
    for (const auto& s : b->skipped) {
      ++skipped;
      EXPECT_EQ(s.sample_id, 1);
      EXPECT_EQ(s.path, "a/001.png");
      EXPECT_THAT(s.reason, ::testing::HasSubstr("not a JPEG or PNG"));
    }
  }
  EXPECT_EQ(skipped, 1);
  EXPECT_EQ(delivered, (std::set<int64_t>{0, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(d.batches[0]->shape[0], 1);  // batch 0 held samples 0 and 1
  EXPECT_EQ(d.batches[0]->span, 2u);
}

TEST(BatchPipelineTest, NativeSizeMustAgreeWithinABatch) {
  ScopedTempDir dir;
  auto ds = MakeDataset(dir.path(), 4, /*size_variants=*/2);
  ThreadPool pool(2);
  BatchPlan plan = MakePlan(ds, 1);
  plan.transform.out_height = plan.transform.out_width = 0;
  Drained d = Drain(std::move(plan), &pool);
  ASSERT_OK(d.status);
  ASSERT_EQ(d.batches.size(), 8u);
  EXPECT_THAT(d.batches[1]->shape, ::testing::ElementsAre(1, 6, 9, 3));
  plan = MakePlan(ds, 2);
  plan.transform.out_height = plan.transform.out_width = 0;
  d = Drain(std::move(plan), &pool);
  EXPECT_THAT(d.status, StatusIs(absl::StatusCode::kInvalidArgument, "'a/000.png' is 8x6 but 'a/001.png' is 9x6"));
}

TEST(BatchPipelineTest, BoundsBatchesInFlightWithoutRelease) {
  ScopedTempDir dir;
  auto ds = MakeDataset(dir.path(), 20);
  ThreadPool pool(2);
  Waker waker;
  BatchPlan plan = MakePlan(ds, 2);
  plan.max_batches_in_flight = 3;
  auto p = BatchPipeline::Start(std::move(plan), &pool, std::make_shared<BufferPool>(1 << 20), waker.Callback());
  std::vector<std::unique_ptr<BatchResult>> got;
  absl::Status status;
  int seen = 0;
  while (got.size() < 3) {
    std::unique_ptr<BatchResult> b;
    auto poll = p->Next(&b, &status);
    ASSERT_NE(poll, BatchPipeline::Poll::kDone) << status;
    if (poll == BatchPipeline::Poll::kBatch) {
      got.push_back(std::move(b));
    } else {
      int now = waker.WaitChange(seen);
      ASSERT_NE(now, seen);
      seen = now;
    }
  }
  // Nothing released: the pipeline must not have scheduled a fourth batch.
  absl::SleepFor(absl::Milliseconds(100));
  std::unique_ptr<BatchResult> b;
  EXPECT_EQ(p->Next(&b, &status), BatchPipeline::Poll::kPending);
  p->Release();
  seen = waker.count();
  while (p->Next(&b, &status) == BatchPipeline::Poll::kPending) {
    int now = waker.WaitChange(seen);
    ASSERT_NE(now, seen);
    seen = now;
  }
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->position, 6u);
  p->Cancel();
  EXPECT_EQ(p->Next(&b, &status), BatchPipeline::Poll::kDone);
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kCancelled, ""));
  p->DetachListener();
}

TEST(BatchPipelineTest, CancelStopsPromptlyAndPoolStaysUsable) {
  ScopedTempDir dir;
  auto ds = MakeDataset(dir.path(), 50);
  ThreadPool pool(2);
  Drained d = Drain(MakePlan(ds, 4), &pool, /*stop_after=*/2);
  EXPECT_EQ(d.batches.size(), 2u);
  // The same pool serves a fresh stream completely afterwards.
  d = Drain(MakePlan(ds, 25), &pool);
  ASSERT_OK(d.status);
  EXPECT_EQ(d.batches.size(), 4u);
}

}  // namespace
}  // namespace imagefeed
