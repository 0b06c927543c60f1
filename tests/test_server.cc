#include "tests/test_server.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/image_encoders.h"
#include "common/test_support.h"

namespace imagefeed {

namespace {
std::vector<DatasetConfig> RgbConfigs(std::vector<std::shared_ptr<const DatasetIndex>> datasets) {
  std::vector<DatasetConfig> out;
  for (auto& d : datasets) out.push_back({std::move(d), ColorMode::kRgb});
  return out;
}
}  // namespace

TestServer::TestServer(std::vector<std::shared_ptr<const DatasetIndex>> datasets, ServerLimits limits,
                       StatsConfig stats)
    : TestServer(RgbConfigs(std::move(datasets)), limits, stats) {}

TestServer::TestServer(std::vector<DatasetConfig> datasets, ServerLimits limits, StatsConfig stats) {
  if (limits.threads <= 0) limits.threads = 2;
  core_ = std::make_unique<ImageFeedCore>(std::move(datasets), limits, stats);
  service_ = std::make_unique<ImageFeedService>(core_.get());
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(service_.get());
  builder.SetMaxSendMessageSize(static_cast<int>(limits.max_batch_bytes + (16 << 20)));
  server_ = builder.BuildAndStart();
  EXPECT_NE(server_, nullptr);
  EXPECT_NE(port, 0);
  address_ = absl::StrCat("127.0.0.1:", port);
}

TestServer::~TestServer() {
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  server_->Wait();
}

void WriteTestDataset(const std::string& root, int num_classes, int per_class, int width, int height) {
  for (int c = 0; c < num_classes; ++c) {
    for (int k = 0; k < per_class; ++k) {
      Image img = MakeGradientImage(width, height, 3);
      img.data[0] = static_cast<uint8_t>((c * per_class + k) % 256);
      auto png = EncodePng(img);
      ASSERT_TRUE(png.ok());
      WriteTestFile(absl::StrFormat("%s/class%02d/img%04d.png", root, c, k), *png);
    }
  }
}

}  // namespace imagefeed
