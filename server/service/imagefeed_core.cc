#include "server/service/imagefeed_core.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"

namespace imagefeed {

ImageFeedCore::ImageFeedCore(std::vector<std::shared_ptr<const DatasetIndex>> datasets, ServerLimits limits)
    : limits_(limits),
      buffers_(std::make_shared<BufferPool>(static_cast<size_t>(std::max<int64_t>(limits.max_batch_bytes, 64 << 20)) * 2)),
      pool_(limits.threads) {
  for (auto& d : datasets) datasets_[d->name()] = std::move(d);
}

absl::Status ImageFeedCore::ListDatasets(const v1::ListDatasetsRequest&, v1::ListDatasetsResponse* response) const {
  for (const auto& [name, d] : datasets_) {
    v1::DatasetInfo* info = response->add_datasets();
    info->set_name(name);
    info->set_num_samples(d->num_samples());
    for (const std::string& c : d->classes()) info->add_classes(c);
    for (int64_t n : d->class_counts()) info->add_class_counts(n);
  }
  return absl::OkStatus();
}

absl::StatusOr<ImageFeedCore::Stream> ImageFeedCore::StartStream(const v1::StreamBatchesRequest& request,
                                                                 std::function<void()> on_ready) {
  auto it = datasets_.find(request.dataset());
  if (it == datasets_.end()) {
    std::vector<std::string> names;
    for (const auto& [name, d] : datasets_) names.push_back(name);
    return absl::NotFoundError(absl::StrCat("dataset '", request.dataset(), "' is not served here (serving: ",
                                            absl::StrJoin(names, ", "), ")"));
  }
  ASSIGN_OR_RETURN(BatchPlan plan, PlanStream(request, it->second, limits_));
  Stream stream;
  stream.transform = plan.transform;
  plan.samples_decoded = &samples_decoded_;
  stream.pipeline = BatchPipeline::Start(std::move(plan), &pool_, buffers_, std::move(on_ready));
  return stream;
}

}  // namespace imagefeed
