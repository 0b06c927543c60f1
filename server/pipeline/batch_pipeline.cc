#include "server/pipeline/batch_pipeline.h"

#include <cstring>
#include <exception>
#include <new>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/file_util.h"
#include "common/status_macros.h"

namespace imagefeed {

int64_t ReplacementFor(const std::vector<int64_t>& pool, uint64_t seed, uint64_t position, int attempt) {
  SplitMix64 rng(MixSeed(seed, position, static_cast<uint64_t>(attempt), 0x7e91ace));
  return pool[rng.Below(pool.size())];
}

struct BatchPipeline::Pending {
  enum class Stage { kNeedsPeek, kPeeking, kNeedsBuffer, kDecoding };
  Stage stage = Stage::kNeedsBuffer;
  size_t begin = 0;  // into plan_.sequence
  size_t count = 0;
  uint64_t position = 0;  // of the first slot in the rank's sequence
  size_t sample_bytes = 0;  // of one output slot
  int height = 0, width = 0;
  BatchBufferSource::Pooled data;
  std::vector<absl::Status> sample_status;  // per slot, written by that slot's task only
  // Per slot, written by that slot's task only: the sample it holds (a
  // replacement under fill_skipped), and why the original failed if replaced.
  std::vector<int64_t> slot_ids;
  std::vector<absl::Status> replaced_because;
  std::vector<ImageHeader> headers;         // native sizes: per slot, from the peek
  std::atomic<size_t> remaining{0};
  // Guarded by the pipeline's mu_.
  bool complete = false;
  std::chrono::steady_clock::time_point completed_at;
  absl::Status status;
  std::unique_ptr<BatchResult> result;
};

std::shared_ptr<BatchPipeline> BatchPipeline::Create(BatchPlan plan, PipelineRuntime runtime,
                                                     std::function<void()> on_ready) {
  return std::shared_ptr<BatchPipeline>(new BatchPipeline(std::move(plan), std::move(runtime), std::move(on_ready)));
}

BatchPipeline::BatchPipeline(BatchPlan plan, PipelineRuntime runtime, std::function<void()> on_ready)
    : plan_(std::move(plan)),
      runtime_(std::move(runtime)),
      queue_(runtime_.scheduler->NewQueue(Scheduler::Priority::kForeground)),
      sample_bytes_(plan_.transform.out_height > 0
                        ? plan_.transform.SampleBytes(plan_.transform.out_height, plan_.transform.out_width)
                        : 0),
      on_ready_(std::move(on_ready)) {}

void BatchPipeline::Begin(const NormalizeParams* dataset_stats) {
  if (sample_bytes_ > 0) {  // a fixed-size batch that can never fit is refused before any work
    absl::Status fits = runtime_.buffers->CheckFits(
        static_cast<int64_t>(sample_bytes_) * plan_.batch_size,
        absl::StrCat("a batch of ", plan_.batch_size, " samples of ", plan_.transform.out_width, "x",
                     plan_.transform.out_height));
    if (!fits.ok()) return Abort(fits);
  }
  {
    MutexLock lock(&mu_);
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
    MutexLock lock(&mu_);
    if (begun_) return;
    begun_ = true;
    failed_ = true;
    abort_status_ = std::move(status);
  }
  Notify();
}

void BatchPipeline::ScheduleMore() {
  {
    MutexLock lock(&mu_);
    if (scheduling_) {
      reschedule_ = true;
      return;
    }
    scheduling_ = true;
  }
  for (;;) {
    const bool progressed = ScheduleOnce();
    MutexLock lock(&mu_);
    if (!progressed && !reschedule_) {
      scheduling_ = false;
      return;
    }
    reschedule_ = false;
  }
}

// One step: opens a new batch, starts a native batch's header peeks, or
// gives the oldest batch waiting for memory its buffer and starts its
// samples. Returns false when nothing more can be done now. Buffers are
// acquired with no lock held: giving memory back runs other streams' callbacks.
bool BatchPipeline::ScheduleOnce() {
  Pending* batch = nullptr;
  Pending::Stage stage;
  size_t bytes = 0;
  {
    MutexLock lock(&mu_);
    if (!begun_ || cancelled_.load() || failed_) return false;
    for (auto& p : pending_) {
      if (p->stage == Pending::Stage::kNeedsPeek || p->stage == Pending::Stage::kNeedsBuffer) {
        batch = p.get();
        break;
      }
    }
    const size_t total = plan_.batches.size();
    if (batch == nullptr && in_flight_ < plan_.max_batches_in_flight && next_batch_ < total) {
      const BatchSlice& slice = plan_.batches[next_batch_++];
      auto fresh = std::make_unique<Pending>();
      fresh->begin = slice.begin;
      fresh->count = slice.count;
      fresh->position = slice.position;
      fresh->sample_status.resize(slice.count);
      fresh->slot_ids.assign(plan_.sequence.begin() + static_cast<std::ptrdiff_t>(slice.begin),
                             plan_.sequence.begin() + static_cast<std::ptrdiff_t>(slice.begin + slice.count));
      fresh->replaced_because.resize(slice.count);
      fresh->stage = sample_bytes_ > 0 ? Pending::Stage::kNeedsBuffer : Pending::Stage::kNeedsPeek;
      fresh->sample_bytes = sample_bytes_;
      fresh->height = plan_.transform.out_height;
      fresh->width = plan_.transform.out_width;
      batch = fresh.get();
      pending_.push_back(std::move(fresh));
      ++in_flight_;
    }
    if (batch == nullptr) {
      if (pending_.empty() && next_batch_ >= total) {
        // e.g. an empty sequence: the end is available now
      } else {
        return false;
      }
    } else {
      stage = batch->stage;
      if (stage == Pending::Stage::kNeedsPeek) {
        batch->stage = Pending::Stage::kPeeking;
        batch->headers.resize(batch->count);
        batch->remaining = batch->count;
      } else {
        bytes = batch->count * batch->sample_bytes;
      }
    }
  }
  if (batch == nullptr) {
    Notify();
    return false;
  }
  std::shared_ptr<BatchPipeline> self = shared_from_this();
  const size_t count = batch->count;  // `batch` may be freed once its tasks run
  if (stage == Pending::Stage::kNeedsPeek) {
    for (size_t slot = 0; slot < count; ++slot) {
      queue_->Schedule([self, batch, slot] { self->PeekSample(batch, slot); });
    }
    return true;
  }
  std::weak_ptr<BatchPipeline> weak = self;
  BatchBufferSource::Pooled data = runtime_.buffers->TryAcquire(bytes, [weak] {
    if (auto p = weak.lock()) p->ScheduleMore();
  });
  if (!data) return false;  // waits for room; the callback resumes
  {
    MutexLock lock(&mu_);
    if (cancelled_.load()) return false;  // `data` goes back to the pool
    batch->data = std::move(data);
    batch->stage = Pending::Stage::kDecoding;
    batch->remaining = count;
  }
  for (size_t slot = 0; slot < count; ++slot) {
    queue_->Schedule([self, batch, slot] { self->RunSample(batch, slot); });
  }
  return true;
}

std::string BatchPipeline::SamplePath(Pending* batch, size_t slot) const {
  return plan_.dataset->samples()[plan_.sequence[batch->begin + slot]].relative_path;
}

void BatchPipeline::PeekSample(Pending* batch, size_t slot) {
  if (!cancelled_.load(std::memory_order_relaxed)) {
    std::vector<uint8_t>& bytes = ThreadSampleScratch().file_bytes;
    absl::Status s = plan_.dataset->ReadSample(plan_.sequence[batch->begin + slot], &bytes);
    if (s.ok()) {
      absl::StatusOr<ImageHeader> header = PeekImageHeader(absl::MakeConstSpan(bytes), plan_.transform.decode);
      if (header.ok()) {
        batch->headers[slot] = *header;
      } else {
        s = header.status();
      }
    }
    if (!s.ok()) batch->sample_status[slot] = s;
    TrimSampleScratch(kRetainedScratchBytesPerThread);
  }
  if (batch->remaining.fetch_sub(1) == 1) FinishPeek(batch);
}

// All headers of a native-size batch are known: the batch's size and bytes
// are decided (or the batch refused) before any pixel is decoded.
void BatchPipeline::FinishPeek(Pending* batch) {
  absl::Status s = cancelled_.load() ? absl::CancelledError("stream cancelled") : SizeNativeBatch(batch);
  if (!s.ok()) {
    Complete(batch, s);
    return;
  }
  {
    MutexLock lock(&mu_);
    batch->stage = Pending::Stage::kNeedsBuffer;
  }
  ScheduleMore();
}

absl::Status BatchPipeline::SizeNativeBatch(Pending* batch) {
  size_t first = batch->count;
  int64_t good = 0;
  for (size_t slot = 0; slot < batch->count; ++slot) {
    if (!batch->sample_status[slot].ok()) continue;
    const ImageHeader& h = batch->headers[slot];
    ++good;
    if (first == batch->count) {
      first = slot;
      continue;
    }
    const ImageHeader& f = batch->headers[first];
    // EXIF orientation may turn a picture a quarter: compared again after decoding.
    const bool same = (h.width == f.width && h.height == f.height) || (h.width == f.height && h.height == f.width);
    if (!same) {
      return absl::InvalidArgumentError(absl::StrCat(
          "images of one batch must share a size when no size is requested: '", SamplePath(batch, first), "' is ",
          f.width, "x", f.height, " but '", SamplePath(batch, slot), "' is ", h.width, "x", h.height,
          " (width x height); request a size or use batch_size 1"));
    }
  }
  if (first == batch->count) return absl::OkStatus();  // every sample failed: an empty batch
  const ImageHeader& f = batch->headers[first];
  batch->width = f.width;
  batch->height = f.height;
  batch->sample_bytes = plan_.transform.SampleBytes(f.height, f.width);
  const int64_t bytes = good * static_cast<int64_t>(batch->sample_bytes);
  if (bytes > plan_.max_batch_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("a batch of ", good, " images of ", f.width, "x", f.height,
                                                   " is ", bytes, " bytes, above the server's cap max_batch_bytes=",
                                                   plan_.max_batch_bytes, "; request a size or a smaller batch_size"));
  }
  // The buffer holds every slot (failed ones are compacted away later).
  return runtime_.buffers->CheckFits(static_cast<int64_t>(batch->count * batch->sample_bytes),
                                               absl::StrCat("a batch of ", batch->count, " images of ", f.width,
                                                            "x", f.height));
}

void BatchPipeline::RunSample(Pending* batch, size_t slot) {
  if (!cancelled_.load(std::memory_order_relaxed) && batch->sample_status[slot].ok()) {
    absl::Status s = GuardedMakeSample(batch, slot, batch->slot_ids[slot]);
    // Full batches: the failed sample's place goes to deterministic draws
    // (the same on every server and restart) until one decodes.
    for (int attempt = 0; !s.ok() && plan_.fill_skipped && attempt < kMaxReplacementDraws &&
                          !cancelled_.load(std::memory_order_relaxed);
         ++attempt) {
      const int64_t candidate =
          ReplacementFor(*plan_.replacement_pool, plan_.replacement_seed, batch->position + slot, attempt);
      if (GuardedMakeSample(batch, slot, candidate).ok()) {
        batch->replaced_because[slot] = s;
        batch->slot_ids[slot] = candidate;
        s = absl::OkStatus();
      }
    }
    if (!s.ok()) batch->sample_status[slot] = s;
  }
  FinishSample(batch);
}

absl::Status BatchPipeline::GuardedMakeSample(Pending* batch, size_t slot, int64_t id) {
  absl::Status s;
  // Nothing thrown while making a sample may escape a worker: it becomes
  // that sample's error, under the stream's on_error policy.
  try {
    s = MakeSample(batch, slot, id);
  } catch (const std::bad_alloc&) {
    s = absl::ResourceExhaustedError("out of memory while decoding");
  } catch (const std::exception& e) {
    s = absl::InternalError(absl::StrCat("internal error while decoding: ", e.what()));
  } catch (...) {
    s = absl::InternalError("internal error while decoding");
  }
  if (plan_.samples_decoded != nullptr) plan_.samples_decoded->fetch_add(1, std::memory_order_relaxed);
  return s;
}

absl::Status BatchPipeline::MakeSample(Pending* batch, size_t slot, int64_t id) {
  using Clock = std::chrono::steady_clock;
  SampleScratch& scratch = ThreadSampleScratch();
  SampleTimings timings;
  const Clock::time_point start = Clock::now();
  absl::Status s = plan_.dataset->ReadSample(id, &scratch.file_bytes);
  timings.ns[static_cast<int>(Stage::kRead)] = Nanos(start, Clock::now());
  if (s.ok()) s = DecodeIntoSlot(batch, slot, id, &scratch, &timings);
  if (s.ok() && plan_.metrics) plan_.metrics->AddSample(timings);
  // The steady state reuses ordinary buffers; an outlier's are freed.
  TrimSampleScratch(kRetainedScratchBytesPerThread);
  return s;
}

// Reserves the sample's scratch, sized from its header, before any pixel is
// decoded; a sample that can never fit the budget fails with the budget's name.
absl::Status BatchPipeline::DecodeIntoSlot(Pending* batch, size_t slot, int64_t id, SampleScratch* scratch,
                                           SampleTimings* timings) {
  ASSIGN_OR_RETURN(ImageHeader header,
                   PeekImageHeader(absl::MakeConstSpan(scratch->file_bytes), plan_.transform.decode));
  const int64_t need = static_cast<int64_t>(SampleScratchBytes(header, plan_.transform, id));
  RETURN_IF_ERROR(runtime_.scratch->Reserve(need));
  MemoryReservation reserved(runtime_.scratch, need);
  FloatImage& resized = scratch->resized;
  RETURN_IF_ERROR(DecodeAndResize(scratch->file_bytes, plan_.transform, id, &resized, timings));
  if (int64_t{resized.height} * resized.width != int64_t{batch->height} * batch->width) {
    return absl::InvalidArgumentError(absl::StrCat("decoded to ", resized.width, "x", resized.height, ", not the ",
                                                   batch->width, "x", batch->height, " its header says"));
  }
  if (sample_bytes_ == 0) {  // native: EXIF may have turned it; Assemble checks the batch agrees
    batch->headers[slot].width = resized.width;
    batch->headers[slot].height = resized.height;
  }
  const auto write_start = std::chrono::steady_clock::now();
  WriteSample(resized, plan_.transform, batch->data->data() + slot * batch->sample_bytes);
  timings->ns[static_cast<int>(Stage::kWrite)] = Nanos(write_start, std::chrono::steady_clock::now());
  return absl::OkStatus();
}

void BatchPipeline::FinishSample(Pending* batch) {
  if (batch->remaining.fetch_sub(1) != 1) return;
  absl::Status status;
  if (cancelled_.load()) {
    status = absl::CancelledError("stream cancelled");
  } else {
    try {
      status = Assemble(batch);
    } catch (const std::exception& e) {
      status = absl::InternalError(absl::StrCat("internal error assembling a batch: ", e.what()));
    }
  }
  Complete(batch, std::move(status));
}

void BatchPipeline::Complete(Pending* batch, absl::Status status) {
  {
    MutexLock lock(&mu_);
    batch->complete = true;
    batch->completed_at = std::chrono::steady_clock::now();
    batch->status = std::move(status);
    if (!batch->status.ok()) failed_ = true;
  }
  Notify();
}

absl::Status BatchPipeline::Assemble(Pending* batch) {
  auto result = std::make_unique<BatchResult>();
  const SampleTransform& t = plan_.transform;
  std::vector<size_t> good;
  for (size_t slot = 0; slot < batch->count; ++slot) {
    const int64_t id = plan_.sequence[batch->begin + slot];
    const absl::Status& replaced = batch->replaced_because[slot];
    const absl::Status& s = batch->sample_status[slot].ok() ? replaced : batch->sample_status[slot];
    if (batch->sample_status[slot].ok()) {
      if (!replaced.ok()) {
        result->replaced.push_back({static_cast<uint32_t>(good.size()), id, batch->slot_ids[slot]});
      }
      good.push_back(slot);
      if (replaced.ok()) continue;
    }
    const std::string rel = SamplePath(batch, slot);
    if (plan_.on_error == OnError::kFail) {
      return absl::DataLossError(absl::StrCat("sample ", id, " '", rel, "' of dataset '", plan_.dataset->name(),
                                              "': ", s.message()));
    }
    result->skipped.push_back({id, rel, std::string(s.message())});
    if (plan_.metrics) plan_.metrics->AddSkip(ClassifySkip(s));
    if (plan_.on_skip) plan_.on_skip(result->skipped.back());
  }
  if (sample_bytes_ == 0 && !good.empty()) {  // native sizes must agree after EXIF orientation
    const ImageHeader& first = batch->headers[good[0]];
    for (size_t slot : good) {
      const ImageHeader& img = batch->headers[slot];
      if (img.height != first.height || img.width != first.width) {
        return absl::InvalidArgumentError(absl::StrCat(
            "images of one batch must share a size when no size is requested: '", SamplePath(batch, good[0]),
            "' is ", first.width, "x", first.height, " but '", SamplePath(batch, slot), "' is ", img.width, "x",
            img.height, " (width x height); request a size or use batch_size 1"));
      }
    }
    batch->width = first.width;
    batch->height = first.height;
  }
  const size_t bytes = batch->sample_bytes;
  if (batch->data) {
    // Compact the good slots to the front (a no-op without skipped samples).
    for (size_t i = 0; i < good.size(); ++i) {
      if (good[i] != i) std::memmove(batch->data->data() + i * bytes, batch->data->data() + good[i] * bytes, bytes);
    }
    batch->data->resize(good.size() * bytes);
    result->data = std::move(batch->data);
  }
  const int64_t n = static_cast<int64_t>(good.size());
  const int h = batch->height, w = batch->width;
  result->shape = t.layout == TensorLayout::kNCHW ? std::vector<int64_t>{n, t.out_channels, h, w}
                                                  : std::vector<int64_t>{n, h, w, t.out_channels};
  for (size_t slot : good) {
    const int64_t id = batch->slot_ids[slot];
    if (batch->position + slot >= plan_.first_padded) {
      result->padded.push_back(static_cast<uint32_t>(result->sample_ids.size()));
    }
    result->sample_ids.push_back(id);
    result->labels.push_back(plan_.dataset->samples()[id].label);
  }
  result->epoch = plan_.epoch;
  result->position = batch->position;
  result->span = batch->count;
  result->identity = plan_.identity;
  batch->result = std::move(result);
  return absl::OkStatus();
}

// Skips are counted in delivery order, so where a stream stops does not
// depend on which batch finished decoding first.
absl::Status BatchPipeline::ChargeSkips(const BatchResult& batch) {
  samples_seen_ += static_cast<int64_t>(batch.span);
  samples_skipped_ += static_cast<int64_t>(batch.skipped.size());
  for (const SkippedSample& s : batch.skipped) {
    recent_skips_.push_back(s);
    if (recent_skips_.size() > 5) recent_skips_.pop_front();
  }
  if (samples_skipped_ == 0 || plan_.max_skip_fraction >= 1.0) return absl::OkStatus();
  const bool over = samples_seen_ >= kMinSamplesForSkipBudget &&
                    static_cast<double>(samples_skipped_) > plan_.max_skip_fraction * samples_seen_;
  const bool all = samples_skipped_ == samples_seen_ && next_batch_ >= plan_.batches.size() && pending_.empty();
  if (!over && !all) return absl::OkStatus();
  std::vector<std::string> last;
  for (const SkippedSample& s : recent_skips_) last.push_back(absl::StrCat("'", s.path, "': ", s.reason));
  return absl::DataLossError(absl::StrCat(
      samples_skipped_, " of ", samples_seen_, " samples of dataset '", plan_.dataset->name(),
      "' could not be read or decoded, above max_skip_fraction=", plan_.max_skip_fraction,
      " (raise it in the request to accept more); last: ", absl::StrJoin(last, "; ")));
}

BatchPipeline::Poll BatchPipeline::Next(std::unique_ptr<BatchResult>* out, absl::Status* final_status) {
  MutexLock lock(&mu_);
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
    if (next_batch_ >= plan_.batches.size()) {
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
  std::unique_ptr<BatchResult> batch = std::move(front->result);
  const auto front_completed = front->completed_at;
  pending_.pop_front();
  if (absl::Status budget = ChargeSkips(*batch); !budget.ok()) {
    failed_ = true;
    abort_status_ = budget;
    *final_status = budget;
    return Poll::kDone;
  }
  // Wait for the client: from when this batch was ready at the head of the
  // stream (complete, and the previous batch taken) until the transport took it.
  const auto now = std::chrono::steady_clock::now();
  if (plan_.metrics) {
    plan_.metrics->AddWaitClient(Nanos(std::max(front_completed, last_taken_), now));
    plan_.metrics->AddBatchSent(batch->data ? static_cast<int64_t>(batch->data->size()) : 0,
                                static_cast<int64_t>(batch->sample_ids.size()));
  }
  last_taken_ = now;
  *out = std::move(batch);
  return Poll::kBatch;
}

int BatchPipeline::ReadyBatches() {
  MutexLock lock(&mu_);
  int ready = 0;
  for (const auto& p : pending_) {
    if (!p->complete || !p->status.ok()) break;
    ++ready;
  }
  return ready;
}

void BatchPipeline::Release() {
  {
    MutexLock lock(&mu_);
    --in_flight_;
  }
  ScheduleMore();
}

void BatchPipeline::Cancel() {
  cancelled_.store(true);
  queue_->Clear();  // queued samples never run; their batches are freed with the pipeline
}

void BatchPipeline::DetachListener() {
  MutexLock lock(&listener_mu_);
  on_ready_ = nullptr;
}

void BatchPipeline::Notify() {
  MutexLock lock(&listener_mu_);
  if (on_ready_) on_ready_();
}

}  // namespace imagefeed
