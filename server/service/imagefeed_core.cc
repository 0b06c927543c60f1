#include "server/service/imagefeed_core.h"

#include <malloc.h>

#include <algorithm>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "server/service/batch_header.h"
#include "server/service/server_status.h"

namespace imagefeed {
namespace {

// Streams admitted by default: one per 64 MiB of budget (room for a couple
// of ordinary batches each), at least 4.
int64_t DefaultMaxStreams(int64_t budget) { return std::clamp<int64_t>(budget / (int64_t{64} << 20), 4, 1024); }

}  // namespace

ImageFeedCore::ImageFeedCore(std::vector<DatasetConfig> datasets, ServerLimits limits, StatsConfig stats)
    : limits_(limits),
      max_streams_(limits.max_streams > 0 ? limits.max_streams : DefaultMaxStreams(limits.memory_budget)),
      batch_budget_("memory budget for batches (3/4 of --memory_budget)",
                    limits.memory_budget - limits.memory_budget / 4),
      scratch_budget_("memory budget for decoding (1/4 of --memory_budget)", limits.memory_budget / 4),
      buffers_(BufferPool::Create(&batch_budget_, static_cast<size_t>(std::min<int64_t>(
                                                      2 * limits.max_batch_bytes, batch_budget_.capacity() / 4)))),
      pool_(limits.threads) {
  for (auto& d : datasets) {
    FitOptions fit;
    fit.color_mode = d.color_mode;
    fit.sample_limit = stats.sample_limit;
    fit.sample_seed = stats.sample_seed;
    fit.max_pixels = limits.max_pixels;
    fit.cache_dir = stats.cache_dir;
    Served served{d, StatsFitter::Start(d.index, fit, &pool_, &scratch_budget_)};
    datasets_[d.index->name()] = std::move(served);
  }
  trimmer_ = std::thread([this] { TrimWhenIdle(); });
}

ImageFeedCore::~ImageFeedCore() {
  {
    MutexLock lock(&mu_);
    stopping_ = true;
    idle_.SignalAll();
  }
  trimmer_.join();
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
    info->set_format(DatasetFormatName(d->format()));
    for (const std::string& c : d->classes()) info->add_classes(c);
    for (int64_t n : d->class_counts()) info->add_class_counts(n);
    info->set_color_mode(served.config.color_mode == ColorMode::kGrayscale ? "grayscale" : "rgb");
    info->set_fingerprint(d->content_fingerprint());
  }
  return absl::OkStatus();
}

absl::Status ImageFeedCore::DescribeStream(const v1::StreamBatchesRequest& request,
                                           v1::StreamDescription* response) const {
  ASSIGN_OR_RETURN(const Served* served, Find(request.dataset()));
  ASSIGN_OR_RETURN(BatchPlan plan, PlanStream(request, served->config.index, served->config.color_mode, limits_));
  response->set_rank_positions(plan.rank_positions);
  response->set_first_position(plan.first_position);
  response->set_batches(plan.batches.size());
  response->set_padded_positions(plan.rank_positions - std::min(plan.first_padded, plan.rank_positions));
  response->set_dataset_fingerprint(plan.identity->dataset_fingerprint);
  response->set_order_fingerprint(plan.identity->order_fingerprint);
  response->set_server_version(IMAGEFEED_VERSION);
  response->set_global_start(plan.identity->global_start);
  return absl::OkStatus();
}

absl::Status ImageFeedCore::Admit() {
  MutexLock lock(&mu_);
  if (active_streams_ >= max_streams_) {
    ++streams_refused_;
    return absl::ResourceExhaustedError(absl::StrCat("the server is serving its limit of max_streams=", max_streams_,
                                                     " streams; retry later or raise --max_streams"));
  }
  ++streams_total_;
  if (active_streams_++ == 0) buffers_->SetRetain(true);
  return absl::OkStatus();
}

void ImageFeedCore::EndStream(uint64_t id) {
  MutexLock lock(&mu_);
  streams_.erase(id);
  if (--active_streams_ == 0) {
    ++idle_epoch_;
    idle_.SignalAll();
    buffers_->SetRetain(false);  // until the next stream: a late buffer is freed, not kept
  }
}

// Gives idle memory back to the system: glibc keeps freed chunks (and the
// middle of its heaps) unless asked. Runs once the server has been idle for
// half a second, so the memory gRPC frees after a call's end is included.
void ImageFeedCore::TrimWhenIdle() {
  MutexLock lock(&mu_);
  int64_t trimmed_epoch = 0;
  while (!stopping_) {
    if (active_streams_ > 0 || idle_epoch_ == trimmed_epoch) {
      idle_.Wait(&mu_);
      continue;
    }
    const int64_t epoch = idle_epoch_;
    idle_.WaitFor(&mu_, std::chrono::milliseconds(500));
    if (stopping_ || active_streams_ > 0 || idle_epoch_ != epoch) continue;
    trimmed_epoch = epoch;
    malloc_trim(0);
  }
}

int64_t ImageFeedCore::active_streams() const {
  MutexLock lock(&mu_);
  return active_streams_;
}

bool ImageFeedCore::WaitUntilIdle(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  MutexLock lock(&mu_);
  while (active_streams_ > 0) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return false;
    idle_.WaitFor(&mu_, deadline - now);
  }
  return true;
}

// Skipped files are logged, but not so often that a dataset with thousands
// of bad files floods the log: the first 10, then one line (with the count)
// at most every 10 seconds.
void ImageFeedCore::LogSkip(const std::string& dataset, const SkippedSample& skipped) {
  MutexLock lock(&mu_);
  ++skips_total_;
  const auto now = std::chrono::steady_clock::now();
  if (skips_logged_ >= 10 && now - last_skip_log_ < std::chrono::seconds(10)) return;
  ++skips_logged_;
  last_skip_log_ = now;
  std::cerr << "imagefeed-server: skipped sample " << skipped.sample_id << " '" << skipped.path << "' of dataset '"
            << dataset << "': " << skipped.reason << " (" << skips_total_ << " skipped since start)" << std::endl;
}

absl::StatusOr<std::unique_ptr<StreamSession>> ImageFeedCore::StartStreamInto(
    const v1::StreamBatchesRequest& request, std::function<void()> on_ready, const std::string& peer,
    const BufferFactory& make_buffers) {
  ASSIGN_OR_RETURN(const Served* served, Find(request.dataset()));
  ASSIGN_OR_RETURN(BatchPlan plan, PlanStream(request, served->config.index, served->config.color_mode, limits_));
  auto identity = std::make_shared<StreamIdentity>(*plan.identity);
  identity->server_version = IMAGEFEED_VERSION;
  plan.identity = std::move(identity);
  RETURN_IF_ERROR(Admit());
  std::shared_ptr<BatchBufferSource> buffers = buffers_;
  if (make_buffers) {
    absl::StatusOr<std::shared_ptr<BatchBufferSource>> made = make_buffers(plan);
    if (!made.ok()) {
      EndStream(0);  // no stream has id 0: only the admission is undone
      return made.status();
    }
    buffers = *std::move(made);
  }
  auto record = std::make_shared<StreamRecord>();
  record->peer = peer;
  record->dataset = request.dataset();
  record->request = RequestSummary(request);
  record->rank = request.rank();
  record->world_size = std::max<uint32_t>(request.world_size(), 1);
  record->total = plan.rank_positions;
  record->position = plan.first_position;
  record->started = std::chrono::steady_clock::now();
  record->metrics = std::make_shared<StreamMetrics>(&metrics_);
  plan.metrics = record->metrics;
  plan.samples_decoded = &samples_decoded_;
  plan.on_skip = [this, name = request.dataset()](const SkippedSample& s) { LogSkip(name, s); };
  auto pipeline = BatchPipeline::Create(std::move(plan), PipelineRuntime{&pool_, std::move(buffers), &scratch_budget_},
                                        std::move(on_ready));
  record->pipeline = pipeline;
  uint64_t id;
  {
    MutexLock lock(&mu_);
    id = record->id = next_stream_id_++;
    streams_[id] = record;
  }
  std::function<void()> start;
  if (NeedsDatasetStats(request)) {
    start = [this, served, pipeline] { WaitForStats(*served, pipeline); };
  } else {
    start = [pipeline] { pipeline->Begin(nullptr); };
  }
  // The pipeline's transform, not a copy of the plan's: Begin() adds the
  // dataset statistics that uint8 batches carry as input_scale/input_offset.
  // The session owns the pipeline as long as it calls on_batch.
  auto on_batch = [this, record, served, p = pipeline.get()](const BatchResult& batch) {
    OnBatch(record.get(), *served, p->transform(), batch);
  };
  return std::make_unique<StreamSession>(pipeline, std::move(start), [this, id] { EndStream(id); },
                                         std::move(on_batch));
}

absl::StatusOr<ImageFeedCore::LocalStream> ImageFeedCore::StartLocalStream(const v1::StreamBatchesRequest& request,
                                                                           std::function<void()> on_ready,
                                                                           const std::string& peer) {
  constexpr uint32_t kMaxSlots = 64;
  if (request.shm_slots() > kMaxSlots) {
    return absl::InvalidArgumentError(
        absl::StrCat("shm_slots=", request.shm_slots(), " is above the limit of ", kMaxSlots));
  }
  LocalStream out;
  // Sized from the stream's plan once it is admitted (a client over
  // max_streams must not make the server size a segment); an error here
  // undoes the admission. The workers write into the slots, so the ring is
  // all the batch memory the stream needs.
  auto make_ring = [&](const BatchPlan& plan) -> absl::StatusOr<std::shared_ptr<BatchBufferSource>> {
    const SampleTransform& t = plan.transform;
    if (t.out_height <= 0 || t.out_width <= 0) {
      return absl::FailedPreconditionError(
          "the local (shared-memory) transport needs a fixed output size: set height and width, or use "
          "StreamBatches");
    }
    const int slots = request.shm_slots() > 0 ? static_cast<int>(request.shm_slots())
                                              : std::max(4, plan.max_batches_in_flight + 2);
    const int64_t slot_bytes = static_cast<int64_t>(t.SampleBytes(t.out_height, t.out_width)) * plan.batch_size;
    const int64_t bytes = slot_bytes * slots;
    RETURN_IF_ERROR(
        batch_budget_.CheckFits(bytes, absl::StrCat("a shared-memory ring of ", slots, " slots (shm_slots)")));
    if (!batch_budget_.TryReserve(bytes)) {
      return absl::ResourceExhaustedError(absl::StrCat("no room in the ", batch_budget_.name(),
                                                       " for a shared-memory ring of ", bytes,
                                                       " bytes now; retry later or use StreamBatches"));
    }
    ASSIGN_OR_RETURN(std::unique_ptr<ShmRing> ring, ShmRing::Create(slots, static_cast<size_t>(slot_bytes),
                                                                    MemoryReservation(&batch_budget_, bytes)));
    out.slots = ShmSlots::Create(std::move(ring));
    return out.slots;
  };
  ASSIGN_OR_RETURN(out.session, StartStreamInto(request, std::move(on_ready), peer, make_ring));
  return out;
}

void ImageFeedCore::OnBatch(StreamRecord* record, const Served& served, const SampleTransform& transform,
                            const BatchResult& batch) {
  record->position.store(batch.position + batch.span, std::memory_order_relaxed);
  const int64_t n = batch.sample_ids.empty() ? 0 : static_cast<int64_t>(batch.sample_ids.size());
  if (n == 0 || !batch.data) return;
  const int64_t keep = std::min<int64_t>(n, kPreviewSamples);
  const int64_t bytes = static_cast<int64_t>(batch.data->size()) / n * keep;
  if (bytes > kPreviewMaxBytes) return;
  const auto now = std::chrono::steady_clock::now();
  {
    MutexLock lock(&preview_mu_);
    if (preview_.has_value() && now - last_preview_ < std::chrono::seconds(1)) return;
    last_preview_ = now;
  }
  // Copied with no lock held: a batch is only read here, and it is this thread's.
  BatchPreview preview;
  preview.header = BatchHeader(batch, transform);
  preview.header.set_shape(0, keep);
  preview.header.mutable_labels()->Truncate(static_cast<int>(keep));
  preview.header.mutable_sample_ids()->Truncate(static_cast<int>(keep));
  preview.data.assign(batch.data->data(), batch.data->data() + bytes);
  preview.dataset = record->dataset;
  preview.class_names = served.config.index->classes();
  MutexLock lock(&preview_mu_);
  preview_ = std::move(preview);
}

std::optional<BatchPreview> ImageFeedCore::RecentBatch() const {
  MutexLock lock(&preview_mu_);
  return preview_;
}

absl::Status ImageFeedCore::GetServerStatus(const v1::GetServerStatusRequest&, v1::ServerStatus* response) const {
  const auto now = std::chrono::steady_clock::now();
  response->set_version(IMAGEFEED_VERSION);
  response->set_uptime_seconds(std::chrono::duration<double>(now - started_).count());
  response->set_threads(pool_.size());
  response->set_memory_budget(limits_.memory_budget);
  response->set_batch_memory_in_use(batch_budget_.in_use());
  response->set_batch_memory_capacity(batch_budget_.capacity());
  response->set_scratch_memory_in_use(scratch_budget_.in_use());
  response->set_scratch_memory_capacity(scratch_budget_.capacity());
  response->set_memory_peak(batch_budget_.peak() + scratch_budget_.peak());
  response->set_rss_bytes(ReadRssBytes());
  response->set_max_streams(max_streams_);
  response->set_queued_tasks(pool_.queued_tasks());
  response->set_running_tasks(pool_.running_tasks());
  std::vector<std::shared_ptr<StreamRecord>> records;
  {
    MutexLock lock(&mu_);
    response->set_streams_total(streams_total_);
    response->set_streams_refused(streams_refused_);
    for (const auto& [id, r] : streams_) records.push_back(r);
  }
  FillStageTotals(metrics_.totals.Read(), response->mutable_totals());
  for (const auto& r : records) {
    v1::StreamStatus* out = response->add_streams();
    out->set_id(r->id);
    out->set_peer(r->peer);
    out->set_dataset(r->dataset);
    out->set_rank(r->rank);
    out->set_world_size(r->world_size);
    out->set_request(r->request);
    out->set_position(r->position.load(std::memory_order_relaxed));
    out->set_total(r->total);
    out->set_seconds(std::chrono::duration<double>(now - r->started).count());
    out->set_samples_per_second(r->metrics->SamplesPerSecond());
    if (auto p = r->pipeline.lock()) out->set_batches_ready(p->ReadyBatches());
    FillStageTotals(r->metrics->counters().Read(), out->mutable_stages());
  }
  for (const auto& [name, served] : datasets_) *response->add_stats() = served.stats->Snapshot();
  for (int i = 0; i < kNumStages; ++i) {
    FillHistogram(StageName(static_cast<Stage>(i)), metrics_.latency[i].Read(), response->add_stage_latency());
  }
  return absl::OkStatus();
}

void ImageFeedCore::WaitForStats(const Served& served, std::shared_ptr<BatchPipeline> pipeline) {
  std::weak_ptr<BatchPipeline> weak = pipeline;
  served.stats->WhenReady([weak](const absl::StatusOr<v1::DatasetStats>& stats) {
    std::shared_ptr<BatchPipeline> p = weak.lock();
    if (!p) return;  // the client left while we were fitting
    if (!stats.ok()) {
      p->Abort(absl::FailedPreconditionError(absl::StrCat(
          "this normalization needs the dataset's statistics, which could not be fitted: ", stats.status().message())));
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
    p->Begin(&params);
  });
}

}  // namespace imagefeed
