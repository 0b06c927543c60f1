#ifndef IMAGEFEED_TESTS_TEST_SERVER_H_
#define IMAGEFEED_TESTS_TEST_SERVER_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "server/service/imagefeed_core.h"
#include "server/service/imagefeed_service.h"

namespace imagefeed {

// An in-process imagefeed server on 127.0.0.1:<free port>, as main.cc
// builds it. Shuts down on destruction.
class TestServer {
 public:
  explicit TestServer(std::vector<std::shared_ptr<const DatasetIndex>> datasets, ServerLimits limits = {},
                      StatsConfig stats = {});
  explicit TestServer(std::vector<DatasetConfig> datasets, ServerLimits limits = {}, StatsConfig stats = {});
  ~TestServer();

  const std::string& address() const { return address_; }
  ImageFeedCore& core() { return *core_; }

 private:
  std::unique_ptr<ImageFeedCore> core_;
  std::unique_ptr<ImageFeedService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
};

// Writes an ImageFolder dataset of `num_classes` x `per_class` PNG images
// of `width` x `height` into `root`; image k of class c is a gradient with
// its first byte set to (c * per_class + k) % 256.
void WriteTestDataset(const std::string& root, int num_classes, int per_class, int width = 16, int height = 12);

}  // namespace imagefeed

#endif  // IMAGEFEED_TESTS_TEST_SERVER_H_
