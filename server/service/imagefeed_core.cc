#include "server/service/imagefeed_core.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"

namespace imagefeed {

ImageFeedCore::ImageFeedCore(std::vector<DatasetConfig> datasets, ServerLimits limits, StatsConfig stats)
    : limits_(limits),
      buffers_(std::make_shared<BufferPool>(static_cast<size_t>(std::max<int64_t>(limits.max_batch_bytes, 64 << 20)) * 2)),
      pool_(limits.threads) {
  for (auto& d : datasets) {
    FitOptions fit;
    fit.color_mode = d.color_mode;
    fit.sample_limit = stats.sample_limit;
    fit.sample_seed = stats.sample_seed;
    fit.max_pixels = limits.max_pixels;
    fit.cache_dir = stats.cache_dir;
    Served served{d, StatsFitter::Start(d.index, fit, &pool_)};
    datasets_[d.index->name()] = std::move(served);
  }
}

ImageFeedCore::~ImageFeedCore() {
  for (auto& [name, served] : datasets_) served.stats->Cancel();
}

absl::StatusOr<const ImageFeedCore::Served*> ImageFeedCore::Find(const std::string& name) const {
  auto it = datasets_.find(name);
  if (it != datasets_.end()) return &it->second;
  std::vector<std::string> names;
  for (const auto& [n, d] : datasets_) names.push_back(n);
  return absl::NotFoundError(
      absl::StrCat("dataset '", name, "' is not served here (serving: ", absl::StrJoin(names, ", "), ")"));
}

absl::Status ImageFeedCore::GetStats(const v1::GetStatsRequest& request, v1::DatasetStats* response) const {
  ASSIGN_OR_RETURN(const Served* served, Find(request.dataset()));
  *response = served->stats->Snapshot();
  return absl::OkStatus();
}

absl::Status ImageFeedCore::ListDatasets(const v1::ListDatasetsRequest&, v1::ListDatasetsResponse* response) const {
  for (const auto& [name, served] : datasets_) {
    const DatasetIndex* d = served.config.index.get();
    v1::DatasetInfo* info = response->add_datasets();
    info->set_name(name);
    info->set_num_samples(d->num_samples());
    for (const std::string& c : d->classes()) info->add_classes(c);
    for (int64_t n : d->class_counts()) info->add_class_counts(n);
    info->set_color_mode(served.config.color_mode == ColorMode::kGrayscale ? "grayscale" : "rgb");
  }
  return absl::OkStatus();
}

absl::StatusOr<ImageFeedCore::Stream> ImageFeedCore::StartStream(const v1::StreamBatchesRequest& request,
                                                                 std::function<void()> on_ready) {
  ASSIGN_OR_RETURN(const Served* served, Find(request.dataset()));
  ASSIGN_OR_RETURN(BatchPlan plan, PlanStream(request, served->config.index, served->config.color_mode, limits_));
  plan.samples_decoded = &samples_decoded_;
  Stream stream;
  stream.transform = plan.transform;
  stream.pipeline = BatchPipeline::Create(std::move(plan), &pool_, buffers_, std::move(on_ready));
  if (!NeedsDatasetStats(request)) {
    stream.pipeline->Begin(nullptr);
    return stream;
  }
  std::weak_ptr<BatchPipeline> weak = stream.pipeline;
  served->stats->WhenReady([weak](const absl::StatusOr<v1::DatasetStats>& stats) {
    std::shared_ptr<BatchPipeline> pipeline = weak.lock();
    if (!pipeline) return;  // the client left while we were fitting
    if (!stats.ok()) {
      pipeline->Abort(absl::FailedPreconditionError(
          absl::StrCat("this normalization needs the dataset's statistics, which could not be fitted: ",
                       stats.status().message())));
      return;
    }
    NormalizeParams params;
    for (int c = 0; c < 3; ++c) {
      const int k = std::min(c, stats->mean_size() - 1);  // 1-channel stats cover grayscale
      params.mean[c] = stats->mean(k);
      params.std[c] = stats->std(k);
      params.min[c] = stats->min(k);
      params.max[c] = stats->max(k);
    }
    pipeline->Begin(&params);
  });
  return stream;
}

}  // namespace imagefeed
