// End-to-end: a real gRPC server on 127.0.0.1:0 and the C++ client library.
#include <cstring>
#include <map>
#include <set>
#include <thread>

#include "absl/time/clock.h"
#include "client/imagefeed_client.h"
#include "common/image_encoders.h"
#include "common/test_support.h"
#include "tests/test_server.h"

namespace imagefeed {
namespace {

using absl::StatusCode;

class ServerE2ETest : public ::testing::Test {
 protected:
  void StartServer(int num_classes, int per_class, ServerLimits limits = {}, int width = 16, int height = 12) {
    WriteTestDataset(dir_.path(), num_classes, per_class, width, height);
    auto index = DatasetIndex::Build("toy", dir_.path());
    ASSERT_OK(index);
    index_ = *index;
    server_ = std::make_unique<TestServer>(std::vector<std::shared_ptr<const DatasetIndex>>{index_}, limits);
    client_ = std::make_unique<ImageFeedClient>(server_->address());
  }

  v1::StreamBatchesRequest Request(uint32_t batch_size) {
    v1::StreamBatchesRequest r;
    r.set_dataset("toy");
    r.set_batch_size(batch_size);
    return r;
  }

  // Reads a whole stream; returns its final status.
  absl::Status ReadAll(const v1::StreamBatchesRequest& r, std::vector<v1::Batch>* out) {
    auto reader = client_->StreamBatches(r);
    v1::Batch b;
    while (reader->Next(&b)) out->push_back(b);
    return reader->Finish();
  }

  ScopedTempDir dir_;
  std::shared_ptr<const DatasetIndex> index_;
  std::unique_ptr<TestServer> server_;
  std::unique_ptr<ImageFeedClient> client_;
};

TEST_F(ServerE2ETest, ListDatasets) {
  StartServer(3, 4);
  ASSERT_OK_AND_ASSIGN(auto response, client_->ListDatasets());
  ASSERT_EQ(response.datasets_size(), 1);
  const auto& d = response.datasets(0);
  EXPECT_EQ(d.name(), "toy");
  EXPECT_EQ(d.num_samples(), 12);
  EXPECT_THAT(d.classes(), ::testing::ElementsAre("class00", "class01", "class02"));
  EXPECT_THAT(d.class_counts(), ::testing::ElementsAre(4, 4, 4));
}

TEST_F(ServerE2ETest, StreamsNativeSizeBatchesWithExactPixelsAndLabels) {
  StartServer(2, 5);
  v1::StreamBatchesRequest r = Request(4);
  r.set_normalize(v1::NORMALIZATION_NONE);
  r.set_layout(v1::LAYOUT_NHWC);
  std::vector<v1::Batch> batches;
  ASSERT_OK(ReadAll(r, &batches));
  ASSERT_EQ(batches.size(), 3u);  // 10 samples: 4, 4, 2
  int64_t next_id = 0;
  for (const auto& b : batches) {
    EXPECT_EQ(b.position(), static_cast<uint64_t>(next_id));
    EXPECT_EQ(b.dtype(), v1::DTYPE_FLOAT32);
    EXPECT_EQ(b.layout(), v1::LAYOUT_NHWC);
    ASSERT_EQ(b.shape_size(), 4);
    EXPECT_EQ(b.shape(1), 12);
    EXPECT_EQ(b.shape(2), 16);
    EXPECT_EQ(b.shape(3), 3);
    ASSERT_EQ(b.data().size(), static_cast<size_t>(b.shape(0)) * 12 * 16 * 3 * 4);
    for (int i = 0; i < b.sample_ids_size(); ++i, ++next_id) {
      EXPECT_EQ(b.sample_ids(i), next_id);
      EXPECT_EQ(b.labels(i), next_id / 5);
      Image expected = MakeGradientImage(16, 12, 3);
      expected.data[0] = static_cast<uint8_t>(next_id);
      const float* px = reinterpret_cast<const float*>(b.data().data()) + i * 12 * 16 * 3;
      for (size_t k = 0; k < expected.data.size(); ++k) ASSERT_EQ(px[k], expected.data[k]) << next_id;
    }
  }
  EXPECT_EQ(next_id, 10);
}

TEST_F(ServerE2ETest, RealisticBatchAboveTheDefaultMessageLimit) {
  StartServer(2, 32);
  v1::StreamBatchesRequest r = Request(64);
  r.set_height(224);
  r.set_width(224);
  std::vector<v1::Batch> batches;
  ASSERT_OK(ReadAll(r, &batches));
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_THAT(batches[0].shape(), ::testing::ElementsAre(64, 3, 224, 224));
  EXPECT_EQ(batches[0].data().size(), 38535168u);
  // rescale default: values in [0, 1].
  const float* px = reinterpret_cast<const float*>(batches[0].data().data());
  for (size_t i = 0; i < batches[0].data().size() / 4; i += 997) {
    ASSERT_GE(px[i], 0.0f);
    ASSERT_LE(px[i], 1.0f);
  }
}

TEST_F(ServerE2ETest, ThreeRanksDeliverEverySampleExactlyOnce) {
  StartServer(4, 25);
  std::multiset<int64_t> seen;
  for (uint32_t rank = 0; rank < 3; ++rank) {
    v1::StreamBatchesRequest r = Request(8);
    r.set_shuffle(true);
    r.set_seed(11);
    r.set_epoch(2);
    r.set_rank(rank);
    r.set_world_size(3);
    r.set_height(8);
    r.set_width(8);
    std::vector<v1::Batch> batches;
    ASSERT_OK(ReadAll(r, &batches));
    for (const auto& b : batches) {
      for (int i = 0; i < b.sample_ids_size(); ++i) {
        seen.insert(b.sample_ids(i));
        EXPECT_EQ(b.labels(i), b.sample_ids(i) / 25);
      }
    }
  }
  ASSERT_EQ(seen.size(), 100u);
  EXPECT_EQ(std::set<int64_t>(seen.begin(), seen.end()).size(), 100u);
}

TEST_F(ServerE2ETest, SameRequestGivesByteIdenticalBatchesAndResumeIsASuffix) {
  StartServer(3, 10);
  v1::StreamBatchesRequest r = Request(7);
  r.set_shuffle(true);
  r.set_seed(5);
  r.set_height(10);
  r.set_width(14);
  std::vector<v1::Batch> first, second, resumed;
  ASSERT_OK(ReadAll(r, &first));
  ASSERT_OK(ReadAll(r, &second));
  ASSERT_EQ(first.size(), second.size());
  for (size_t i = 0; i < first.size(); ++i) EXPECT_EQ(first[i].SerializeAsString(), second[i].SerializeAsString());
  // Resume after batch 1.
  r.set_start(first[1].position() + first[1].span());
  ASSERT_OK(ReadAll(r, &resumed));
  std::vector<int64_t> expected, got;
  for (size_t i = 2; i < first.size(); ++i) expected.insert(expected.end(), first[i].sample_ids().begin(), first[i].sample_ids().end());
  for (const auto& b : resumed) got.insert(got.end(), b.sample_ids().begin(), b.sample_ids().end());
  EXPECT_EQ(got, expected);
  EXPECT_EQ(resumed[0].data(), first[2].data());
}

TEST_F(ServerE2ETest, CancelledClientStopsItsStreamsWork) {
  ServerLimits limits;
  limits.threads = 2;
  StartServer(2, 300, limits);
  {
    auto reader = client_->StreamBatches(Request(4));
    v1::Batch b;
    ASSERT_TRUE(reader->Next(&b));
    reader->Cancel();
    EXPECT_THAT(reader->Finish(), StatusIs(StatusCode::kCancelled, ""));
  }
  // The pipeline stops: the decoded count settles far below the dataset size.
  int64_t before = -1, now = server_->core().samples_decoded();
  for (int i = 0; i < 50 && now != before; ++i) {
    absl::SleepFor(absl::Milliseconds(100));
    before = now;
    now = server_->core().samples_decoded();
  }
  EXPECT_EQ(now, before);
  EXPECT_LT(now, 200);
  // And the server keeps serving.
  std::vector<v1::Batch> batches;
  v1::StreamBatchesRequest r = Request(100);
  ASSERT_OK(ReadAll(r, &batches));
  EXPECT_EQ(batches.size(), 6u);
}

TEST_F(ServerE2ETest, ErrorsCarryTheRightCodes) {
  StartServer(1, 3);
  std::vector<v1::Batch> batches;
  v1::StreamBatchesRequest r = Request(2);
  r.set_dataset("nope");
  EXPECT_THAT(ReadAll(r, &batches), StatusIs(StatusCode::kNotFound, "dataset 'nope'"));
  r = Request(0);
  EXPECT_THAT(ReadAll(r, &batches), StatusIs(StatusCode::kInvalidArgument, "batch_size"));
  r = Request(2);
  r.set_height(0);
  r.set_width(5);
  EXPECT_THAT(ReadAll(r, &batches), StatusIs(StatusCode::kInvalidArgument, "size 0x5"));
  r = Request(2);
  r.set_rank(2);
  r.set_world_size(2);
  EXPECT_THAT(ReadAll(r, &batches), StatusIs(StatusCode::kInvalidArgument, "rank 2 must be < world_size 2"));
  EXPECT_TRUE(batches.empty());
}

TEST_F(ServerE2ETest, CorruptFileFailsTheStreamNamingItOrIsSkipped) {
  StartServer(1, 6);
  WriteTestFile(dir_.path() + "/class00/img0003.png", std::string(100, '\x42'));
  std::vector<v1::Batch> batches;
  v1::StreamBatchesRequest r = Request(2);
  r.set_on_error(v1::ON_ERROR_FAIL);
  EXPECT_THAT(ReadAll(r, &batches), StatusIs(StatusCode::kDataLoss, "'class00/img0003.png'"));
  EXPECT_EQ(batches.size(), 1u);  // the batch before the bad one arrived
  batches.clear();
  r.clear_on_error();  // the default is skip
  ASSERT_OK(ReadAll(r, &batches));
  ASSERT_EQ(batches.size(), 3u);
  ASSERT_EQ(batches[1].skipped_size(), 1);
  EXPECT_EQ(batches[1].skipped(0).path(), "class00/img0003.png");
  EXPECT_EQ(batches[1].sample_ids_size(), 1);
  EXPECT_EQ(batches[1].span(), 2u);
}

TEST(ClientTest, UnreachableServerNamesTheAddress) {
  ImageFeedClient client("127.0.0.1:1");
  EXPECT_THAT(client.ListDatasets(), StatusIs(StatusCode::kUnavailable, "cannot reach imagefeed server at 127.0.0.1:1"));
}

}  // namespace
}  // namespace imagefeed
