// libFuzzer target: request validation. Arbitrary bytes are parsed as a
// StreamBatchesRequest and planned against a small dataset; a plan that is
// accepted must be internally consistent.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "common/file_util.h"
#include "server/service/stream_request.h"

namespace {

std::shared_ptr<const imagefeed::DatasetIndex> MakeDataset() {
  char dir[] = "/tmp/imagefeed-fuzz-XXXXXX";
  if (mkdtemp(dir) == nullptr) std::abort();
  for (int i = 0; i < 23; ++i) {
    std::string cls = std::string(dir) + "/c" + std::to_string(i % 3);
    if (!imagefeed::MakeDirs(cls).ok()) std::abort();
    if (!imagefeed::WriteFileAtomically(cls + "/" + std::to_string(i) + ".jpg", "x").ok()) std::abort();
  }
  auto index = imagefeed::DatasetIndex::Build("fuzz", dir);
  if (!index.ok()) std::abort();
  return *index;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::shared_ptr<const imagefeed::DatasetIndex> dataset = MakeDataset();
  imagefeed::v1::StreamBatchesRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;
  imagefeed::ServerLimits limits;
  limits.max_batch_bytes = 64 << 20;
  for (auto mode : {imagefeed::ColorMode::kRgb, imagefeed::ColorMode::kGrayscale}) {
    auto plan = imagefeed::PlanStream(request, dataset, mode, limits);
    if (!plan.ok()) continue;
    // Invariants of an accepted plan.
    if (plan->batch_size < 1 || plan->batch_size > limits.max_batch_size) std::abort();
    for (int64_t id : plan->sequence) {
      if (id < 0 || id >= dataset->num_samples()) std::abort();
    }
    const auto& t = plan->transform;
    if ((t.out_height == 0) != (t.out_width == 0)) std::abort();
    if (t.out_height > 0 &&
        static_cast<int64_t>(t.SampleBytes(t.out_height, t.out_width)) * plan->batch_size > limits.max_batch_bytes) {
      std::abort();
    }
  }
  return 0;
}
