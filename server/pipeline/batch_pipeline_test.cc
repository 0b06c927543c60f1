#include "server/pipeline/batch_pipeline.h"

#include <set>

#include "common/image_encoders.h"
#include "common/mutex.h"
#include "common/test_support.h"
#include "server/pipeline/sample_order.h"

namespace imagefeed {
namespace {

// A scheduler and memory budgets as the server makes them, sized for tests.
struct TestRuntime {
  explicit TestRuntime(int threads, int64_t batch_bytes = 64 << 20, int64_t scratch_bytes = 64 << 20)
      : scheduler(threads), batches("memory budget for batches", batch_bytes),
        scratch("memory budget for decoding", scratch_bytes), buffers(BufferPool::Create(&batches, 1 << 20)) {}
  PipelineRuntime Get() { return PipelineRuntime{&scheduler, buffers, &scratch}; }

  Scheduler scheduler;
  MemoryBudget batches;
  MemoryBudget scratch;
  std::shared_ptr<BufferPool> buffers;
};

std::shared_ptr<BatchPipeline> Start(BatchPlan plan, TestRuntime* rt, std::function<void()> on_ready) {
  auto p = BatchPipeline::Create(std::move(plan), rt->Get(), std::move(on_ready));
  p->Begin(nullptr);
  return p;
}

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

BatchPlan MakePlan(std::shared_ptr<const DatasetIndex> ds, int batch_size, bool shuffle = false,
                   bool drop_last = false) {
  BatchPlan plan;
  OrderSpec order;
  order.num_samples = ds->num_samples();
  order.shuffle = shuffle;
  order.seed = 3;
  plan.batches = SliceBatches(*RankSequence(order), 0, batch_size, drop_last, 1, 0, &plan.sequence);
  plan.rank_positions = static_cast<uint64_t>(ds->num_samples());
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
  std::vector<int64_t> ids;  // every delivered sample id, in order
  absl::Status status;
};

// Streams `plan` to the end (or `stop_after` batches). With `keep` false each
// batch is freed once its ids are recorded, as the transport does.
Drained Drain(BatchPlan plan, TestRuntime* pool, size_t stop_after = SIZE_MAX, bool keep = true) {
  CallbackCounter waker;
  auto p = Start(std::move(plan), pool, waker.Callback());
  Drained out;
  int seen = 0;
  for (;;) {
    std::unique_ptr<BatchResult> batch;
    auto poll = p->Next(&batch, &out.status);
    if (poll == BatchPipeline::Poll::kDone) break;
    if (poll == BatchPipeline::Poll::kPending) {
      int now = waker.WaitBeyond(seen);
      if (now == seen) {
        out.status = absl::DeadlineExceededError("pipeline made no progress in 30 s");
        break;
      }
      seen = now;
      continue;
    }
    out.ids.insert(out.ids.end(), batch->sample_ids.begin(), batch->sample_ids.end());
    out.batches.push_back(keep ? std::move(batch) : nullptr);
    batch.reset();
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
  TestRuntime pool(3);
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
  TestRuntime pool(2);
  Drained d = Drain(MakePlan(ds, 3), &pool);
  ASSERT_OK(d.status);
  ASSERT_EQ(d.batches.size(), 4u);
  EXPECT_EQ(d.batches.back()->sample_ids.size(), 1u);
  d = Drain(MakePlan(ds, 3, /*shuffle=*/false, /*drop_last=*/true), &pool);
  ASSERT_OK(d.status);
  ASSERT_EQ(d.batches.size(), 3u);
}

TEST(BatchPipelineTest, CorruptFileFailsOrIsSkipped) {
  ScopedTempDir dir;
  auto ds_ok = MakeDataset(dir.path(), 4);
  WriteTestFile(dir.path() + "/a/001.png", "not an image at all");
  auto ds = *DatasetIndex::Build("t", dir.path());
  TestRuntime pool(2);
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

TEST(BatchPipelineTest, FillSkippedReplacesAFailedSampleDeterministically) {
  ScopedTempDir dir;
  auto ds_ok = MakeDataset(dir.path(), 4);
  WriteTestFile(dir.path() + "/a/001.png", "not an image at all");
  auto ds = *DatasetIndex::Build("t", dir.path());
  TestRuntime pool(2);
  auto make = [&] {
    BatchPlan plan = MakePlan(ds, 4);
    plan.fill_skipped = true;
    plan.replacement_pool = std::make_shared<const std::vector<int64_t>>(std::vector<int64_t>{1, 6});
    plan.replacement_seed = 42;
    return plan;
  };
  Drained d = Drain(make(), &pool);
  ASSERT_OK(d.status);
  ASSERT_EQ(d.batches.size(), 2u);
  const BatchResult& b = *d.batches[0];
  EXPECT_EQ(b.shape[0], 4);  // still a full batch
  ASSERT_EQ(b.skipped.size(), 1u);
  EXPECT_EQ(b.skipped[0].sample_id, 1);
  ASSERT_EQ(b.replaced.size(), 1u);
  EXPECT_EQ(b.replaced[0].index, 1u);
  EXPECT_EQ(b.replaced[0].original_id, 1);
  // The pool holds the bad sample itself and 6: draws that hit 1 fail again.
  int64_t expected = -1;
  for (int attempt = 0; attempt < kMaxReplacementDraws && expected < 0; ++attempt) {
    if (ReplacementFor({1, 6}, 42, 1, attempt) == 6) expected = 6;
  }
  EXPECT_EQ(b.replaced[0].replacement_id, expected);
  EXPECT_EQ(b.sample_ids[1], expected);
  EXPECT_EQ(b.labels[1], 1);  // sample 6 is in class b
  Drained again = Drain(make(), &pool);
  ASSERT_OK(again.status);
  EXPECT_EQ(again.ids, d.ids);
}

TEST(BatchPipelineTest, PaddedPositionsAreMarked) {
  ScopedTempDir dir;
  auto ds = MakeDataset(dir.path(), 3);  // 6 samples
  TestRuntime pool(2);
  BatchPlan plan = MakePlan(ds, 4);
  plan.first_padded = 5;
  Drained d = Drain(std::move(plan), &pool);
  ASSERT_OK(d.status);
  ASSERT_EQ(d.batches.size(), 2u);
  EXPECT_TRUE(d.batches[0]->padded.empty());
  EXPECT_THAT(d.batches[1]->padded, ::testing::ElementsAre(1u));  // position 5 = index 1 of batch at 4
}

TEST(BatchPipelineTest, NativeSizeMustAgreeWithinABatch) {
  ScopedTempDir dir;
  auto ds = MakeDataset(dir.path(), 4, /*size_variants=*/2);
  TestRuntime pool(2);
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
  TestRuntime pool(2);
  CallbackCounter waker;
  BatchPlan plan = MakePlan(ds, 2);
  plan.max_batches_in_flight = 3;
  const int64_t batch_bytes = 2 * 6 * 8 * 3 * 4;
  auto p = Start(std::move(plan), &pool, waker.Callback());
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
      int now = waker.WaitBeyond(seen);
      ASSERT_NE(now, seen);
      seen = now;
    }
  }
  // Nothing released: the pipeline has not taken memory for a fourth batch
  // (a batch's buffer is acquired when it is scheduled, on this thread).
  EXPECT_EQ(pool.batches.in_use(), 3 * batch_bytes);
  std::unique_ptr<BatchResult> b;
  EXPECT_EQ(p->Next(&b, &status), BatchPipeline::Poll::kPending);
  p->Release();
  seen = waker.count();
  while (p->Next(&b, &status) == BatchPipeline::Poll::kPending) {
    int now = waker.WaitBeyond(seen);
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
  TestRuntime pool(2);
  Drained d = Drain(MakePlan(ds, 4), &pool, /*stop_after=*/2);
  EXPECT_EQ(d.batches.size(), 2u);
  EXPECT_EQ(pool.scheduler.queued_tasks(), 0) << "a cancelled stream leaves no work queued";
  // The same pool serves a fresh stream completely afterwards.
  d = Drain(MakePlan(ds, 25), &pool);
  ASSERT_OK(d.status);
  EXPECT_EQ(d.batches.size(), 4u);
}

TEST(BatchPipelineTest, BatchesWaitForMemoryInsteadOfExceedingTheBudget) {
  ScopedTempDir dir;
  auto ds = MakeDataset(dir.path(), 20);
  const int64_t batch_bytes = 4 * 6 * 8 * 3 * 4;
  TestRuntime pool(2, /*batch_bytes=*/batch_bytes);  // room for exactly one batch
  BatchPlan plan = MakePlan(ds, 4);
  plan.max_batches_in_flight = 3;
  Drained d = Drain(std::move(plan), &pool, SIZE_MAX, /*keep=*/false);
  ASSERT_OK(d.status);
  EXPECT_EQ(d.ids, EpochOrder(40, false, 0, 0));
  EXPECT_EQ(pool.batches.peak(), batch_bytes) << "never more than the budget";
}

TEST(BatchPipelineTest, ABatchLargerThanTheBudgetIsRefusedUpFront) {
  ScopedTempDir dir;
  auto ds = MakeDataset(dir.path(), 4);
  TestRuntime pool(2, /*batch_bytes=*/1000);
  std::atomic<int64_t> decoded{0};
  BatchPlan plan = MakePlan(ds, 4);  // 4 x 576 bytes
  plan.samples_decoded = &decoded;
  Drained d = Drain(std::move(plan), &pool);
  EXPECT_THAT(d.status, StatusIs(absl::StatusCode::kResourceExhausted, "memory budget for batches"));
  EXPECT_EQ(decoded.load(), 0);
}

TEST(BatchPipelineTest, NativeSizeBatchIsSizedFromHeadersBeforeDecoding) {
  ScopedTempDir dir;
  auto ds = MakeDataset(dir.path(), 4);  // 8x6 RGB: 576 float bytes each
  TestRuntime pool(2);
  std::atomic<int64_t> decoded{0};
  BatchPlan plan = MakePlan(ds, 4);
  plan.transform.out_height = plan.transform.out_width = 0;
  plan.max_batch_bytes = 4 * 576 - 1;
  plan.samples_decoded = &decoded;
  Drained d = Drain(std::move(plan), &pool);
  EXPECT_THAT(d.status, StatusIs(absl::StatusCode::kInvalidArgument, "above the server's cap max_batch_bytes=2303"));
  EXPECT_EQ(decoded.load(), 0) << "refused from the headers, before any pixel was decoded";
  EXPECT_EQ(pool.batches.peak(), 0);
}

TEST(BatchPipelineTest, SampleScratchAboveTheBudgetIsThatSamplesError) {
  ScopedTempDir dir;
  auto ds = MakeDataset(dir.path(), 2);
  TestRuntime pool(2, 64 << 20, /*scratch_bytes=*/100);
  BatchPlan plan = MakePlan(ds, 2);
  plan.max_skip_fraction = 1.0;
  Drained d = Drain(std::move(plan), &pool);
  ASSERT_OK(d.status);
  ASSERT_FALSE(d.batches.empty());
  ASSERT_FALSE(d.batches[0]->skipped.empty());
  EXPECT_THAT(d.batches[0]->skipped[0].reason, ::testing::HasSubstr("memory budget for decoding"));
  EXPECT_EQ(pool.scratch.in_use(), 0);
}

TEST(BatchPipelineTest, SkipBudgetEndsTheStreamWithDataLossNamingTheFiles) {
  ScopedTempDir dir;
  auto ds_ok = MakeDataset(dir.path(), 60);  // 120 samples
  for (int k = 0; k < 60; k += 10) {
    char name[32];
    snprintf(name, sizeof(name), "/b/%03d.png", k);
    WriteTestFile(dir.path() + name, "truncated");
  }
  auto ds = *DatasetIndex::Build("t", dir.path());
  TestRuntime pool(2);
  Drained d = Drain(MakePlan(ds, 10), &pool);  // 6 of 120 = 5 % > 1 %
  // b/000 is sample 60: the first 100 samples hold four bad files.
  EXPECT_THAT(d.status, StatusIs(absl::StatusCode::kDataLoss, "4 of 100 samples"));
  EXPECT_THAT(std::string(d.status.message()), ::testing::HasSubstr("above max_skip_fraction=0.01"));
  EXPECT_THAT(std::string(d.status.message()), ::testing::HasSubstr("'b/030.png': not a JPEG or PNG"));
  EXPECT_EQ(d.batches.size(), 9u) << "the budget is judged once 100 samples were seen";

  BatchPlan lenient = MakePlan(ds, 10);
  lenient.max_skip_fraction = 0.1;
  d = Drain(std::move(lenient), &pool);
  ASSERT_OK(d.status);
  EXPECT_EQ(d.batches.size(), 12u);
}

TEST(BatchPipelineTest, AStreamThatSkippedEverySampleIsNeverASuccess) {
  ScopedTempDir dir;
  auto ds = MakeDataset(dir.path(), 3);
  for (const auto& s : ds->samples()) WriteTestFile(dir.path() + "/" + s.relative_path, "gone");
  TestRuntime pool(2);
  Drained d = Drain(MakePlan(ds, 4), &pool);
  EXPECT_THAT(d.status, StatusIs(absl::StatusCode::kDataLoss, "6 of 6 samples"));
}

}  // namespace
}  // namespace imagefeed
