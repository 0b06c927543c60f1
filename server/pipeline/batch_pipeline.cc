#include "server/pipeline/batch_pipeline.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/status_macros.h"

namespace imagefeed {

struct BatchPipeline::Pending {
  size_t begin = 0;  // into plan_.sequence
  size_t count = 0;
  std::unique_ptr<BufferPool::Buffer> data;  // fixed output size: slots written in place
  std::vector<FloatImage> natives;           // native sizes: assembled at the end
  std::vector<absl::Status> sample_status;   // per slot, written by that slot's task only
  std::atomic<size_t> remaining{0};
  // Guarded by the pipeline's mu_.
  bool complete = false;
  absl::Status status;
  std::unique_ptr<BatchResult> result;
};

std::shared_ptr<BatchPipeline> BatchPipeline::Create(BatchPlan plan, ThreadPool* pool,
                                                     std::shared_ptr<BufferPool> buffers,
                                                     std::function<void()> on_ready) {
  return std::shared_ptr<BatchPipeline>(
      new BatchPipeline(std::move(plan), pool, std::move(buffers), std::move(on_ready)));
}

std::shared_ptr<BatchPipeline> BatchPipeline::Start(BatchPlan plan, ThreadPool* pool,
                                                    std::shared_ptr<BufferPool> buffers,
                                                    std::function<void()> on_ready) {
  auto p = Create(std::move(plan), pool, std::move(buffers), std::move(on_ready));
  p->Begin(nullptr);
  return p;
}

void BatchPipeline::Begin(const NormalizeParams* dataset_stats) {
  {
    absl::MutexLock lock(&mu_);
    if (begun_) return;
    if (dataset_stats != nullptr) {
      NormalizeParams& n = plan_.transform.normalize;
      n.mean = dataset_stats->mean;
      n.std = dataset_stats->std;
      n.min = dataset_stats->min;
      n.max = dataset_stats->max;
    }
    begun_ = true;
  }
  ScheduleMore();
}

void BatchPipeline::Abort(absl::Status status) {
  {
    absl::MutexLock lock(&mu_);
    if (begun_) return;
    begun_ = true;
    failed_ = true;
    abort_status_ = std::move(status);
  }
  Notify();
}

BatchPipeline::BatchPipeline(BatchPlan plan, ThreadPool* pool, std::shared_ptr<BufferPool> buffers,
                             std::function<void()> on_ready)
    : plan_(std::move(plan)),
      pool_(pool),
      buffers_(std::move(buffers)),
      sample_bytes_(plan_.transform.out_height > 0
                        ? plan_.transform.SampleBytes(plan_.transform.out_height, plan_.transform.out_width)
                        : 0),
      on_ready_(std::move(on_ready)) {}

void BatchPipeline::ScheduleMore() {
  std::vector<std::pair<Pending*, size_t>> to_run;  // batch, its sample count
  {
    absl::MutexLock lock(&mu_);
    if (!begun_) return;
    const size_t total = plan_.sequence.size();
    while (!cancelled_.load() && !failed_ && in_flight_ < plan_.max_batches_in_flight && next_begin_ < total) {
      size_t count = std::min<size_t>(plan_.batch_size, total - next_begin_);
      if (plan_.drop_last && count < static_cast<size_t>(plan_.batch_size)) {
        next_begin_ = total;
        break;
      }
      auto batch = std::make_unique<Pending>();
      batch->begin = next_begin_;
      batch->count = count;
      batch->sample_status.resize(count);
      batch->remaining = count;
      if (sample_bytes_ > 0) {
        batch->data = buffers_->Acquire(count * sample_bytes_);
      } else {
        batch->natives.resize(count);
      }
      to_run.emplace_back(batch.get(), count);
      pending_.push_back(std::move(batch));
      next_begin_ += count;
      ++in_flight_;
    }
  }
  // `batch` may be complete and freed by Next() as soon as its last task has
  // been scheduled and has run, so its fields are never read here: the
  // sample counts were taken under the lock.
  std::shared_ptr<BatchPipeline> self = shared_from_this();
  for (const auto& [batch, count] : to_run) {
    for (size_t slot = 0; slot < count; ++slot) {
      pool_->Schedule([self, batch = batch, slot] { self->RunSample(batch, slot); });
    }
  }
  if (to_run.empty()) Notify();  // e.g. an empty sequence: the end is available now
}

void BatchPipeline::RunSample(Pending* batch, size_t slot) {
  if (!cancelled_.load(std::memory_order_relaxed)) {
    const int64_t id = plan_.sequence[batch->begin + slot];
    thread_local std::vector<uint8_t> bytes;
    thread_local FloatImage scratch;
    FloatImage* resized = sample_bytes_ > 0 ? &scratch : &batch->natives[slot];
    absl::Status s = plan_.dataset->ReadSample(id, &bytes);
    if (s.ok()) s = DecodeAndResize(bytes, plan_.transform, id, resized);
    if (plan_.samples_decoded != nullptr) plan_.samples_decoded->fetch_add(1, std::memory_order_relaxed);
    if (s.ok() && sample_bytes_ > 0) WriteSample(*resized, plan_.transform, batch->data->data() + slot * sample_bytes_);
    if (!s.ok()) batch->sample_status[slot] = s;
  }
  FinishSample(batch);
}

void BatchPipeline::FinishSample(Pending* batch) {
  if (batch->remaining.fetch_sub(1) != 1) return;
  absl::Status status = cancelled_.load() ? absl::CancelledError("stream cancelled") : Assemble(batch);
  {
    absl::MutexLock lock(&mu_);
    batch->complete = true;
    batch->status = status;
    if (!status.ok()) failed_ = true;
  }
  Notify();
}

absl::Status BatchPipeline::Assemble(Pending* batch) {
  auto result = std::make_unique<BatchResult>();
  const SampleTransform& t = plan_.transform;
  std::vector<size_t> good;
  for (size_t slot = 0; slot < batch->count; ++slot) {
    const int64_t id = plan_.sequence[batch->begin + slot];
    const absl::Status& s = batch->sample_status[slot];
    if (s.ok()) {
      good.push_back(slot);
      continue;
    }
    const std::string& rel = plan_.dataset->samples()[id].relative_path;
    if (plan_.on_error == OnError::kFail) {
      return absl::DataLossError(absl::StrCat("sample ", id, " '", rel, "' of dataset '", plan_.dataset->name(),
                                              "': ", s.message()));
    }
    result->skipped.push_back({id, rel, std::string(s.message())});
  }
  int h = t.out_height, w = t.out_width;
  if (sample_bytes_ == 0 && !good.empty()) {  // native sizes must agree within the batch
    const FloatImage& first = batch->natives[good[0]];
    h = first.height;
    w = first.width;
    for (size_t slot : good) {
      const FloatImage& img = batch->natives[slot];
      if (img.height != h || img.width != w) {
        auto name = [&](size_t s) {
          return absl::StrCat("'", plan_.dataset->samples()[plan_.sequence[batch->begin + s]].relative_path, "'");
        };
        return absl::InvalidArgumentError(absl::StrCat(
            "images of one batch must share a size when no size is requested: ", name(good[0]), " is ", w, "x",
            h, " but ", name(slot), " is ", img.width, "x", img.height,
            " (width x height); request a size or use batch_size 1"));
      }
    }
  }
  const size_t bytes = t.SampleBytes(h, w);
  if (static_cast<int64_t>(good.size() * bytes) > plan_.max_batch_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("a batch of ", good.size(), " images of ", w, "x", h, " is ",
                                                   good.size() * bytes, " bytes, above the server's cap max_batch_bytes=",
                                                   plan_.max_batch_bytes, "; request a size or a smaller batch_size"));
  }
  if (sample_bytes_ > 0) {
    // Compact the good slots to the front (a no-op without skipped samples).
    for (size_t i = 0; i < good.size(); ++i) {
      if (good[i] != i) std::memmove(batch->data->data() + i * bytes, batch->data->data() + good[i] * bytes, bytes);
    }
    batch->data->resize(good.size() * bytes);
    result->data = std::move(batch->data);
  } else {
    result->data = buffers_->Acquire(good.size() * bytes);
    for (size_t i = 0; i < good.size(); ++i) {
      WriteSample(batch->natives[good[i]], t, result->data->data() + i * bytes);
    }
    batch->natives.clear();
  }
  const int64_t n = static_cast<int64_t>(good.size());
  result->shape = t.layout == TensorLayout::kNCHW ? std::vector<int64_t>{n, t.out_channels, h, w}
                                                  : std::vector<int64_t>{n, h, w, t.out_channels};
  for (size_t slot : good) {
    const int64_t id = plan_.sequence[batch->begin + slot];
    result->sample_ids.push_back(id);
    result->labels.push_back(plan_.dataset->samples()[id].label);
  }
  result->epoch = plan_.epoch;
  result->position = plan_.first_position + batch->begin;
  result->span = batch->count;
  batch->result = std::move(result);
  return absl::OkStatus();
}

BatchPipeline::Poll BatchPipeline::Next(std::unique_ptr<BatchResult>* out, absl::Status* final_status) {
  absl::MutexLock lock(&mu_);
  if (cancelled_.load()) {
    *final_status = absl::CancelledError("stream cancelled");
    return Poll::kDone;
  }
  if (!abort_status_.ok()) {
    *final_status = abort_status_;
    return Poll::kDone;
  }
  if (!begun_) return Poll::kPending;
  if (pending_.empty()) {
    if (next_begin_ >= plan_.sequence.size()) {
      *final_status = absl::OkStatus();
      return Poll::kDone;
    }
    return Poll::kPending;
  }
  Pending* front = pending_.front().get();
  if (!front->complete) return Poll::kPending;
  if (!front->status.ok()) {
    *final_status = front->status;
    return Poll::kDone;
  }
  *out = std::move(front->result);
  pending_.pop_front();
  return Poll::kBatch;
}

void BatchPipeline::Release() {
  {
    absl::MutexLock lock(&mu_);
    --in_flight_;
  }
  ScheduleMore();
}

void BatchPipeline::Cancel() { cancelled_.store(true); }

void BatchPipeline::DetachListener() {
  absl::MutexLock lock(&listener_mu_);
  on_ready_ = nullptr;
}

void BatchPipeline::Notify() {
  absl::MutexLock lock(&listener_mu_);
  if (on_ready_) on_ready_();
}

}  // namespace imagefeed
