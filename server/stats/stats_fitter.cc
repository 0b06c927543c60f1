#include "server/stats/stats_fitter.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/file_util.h"
#include "common/fingerprint.h"
#include "common/status_macros.h"
#include "server/decode/image_decoder.h"
#include "server/pipeline/sample_order.h"

namespace imagefeed {
namespace {

// Bump when the fitting semantics change: old cache files stop matching.
constexpr char kFitVersion[] = "imagefeed-stats-v1";
// Images per work item: large enough to amortize scheduling, small enough
// for progress and for streams to interleave with fitting.
constexpr size_t kChunkImages = 32;

const char* ColorModeName(ColorMode mode) { return mode == ColorMode::kGrayscale ? "grayscale" : "rgb"; }

std::string SafeFileName(const std::string& name) {
  std::string out = name;
  for (char& c : out) {
    if (!isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') c = '_';
  }
  return out;
}

}  // namespace

std::string StatsFingerprint(const DatasetIndex& dataset, const FitOptions& options) {
  Fingerprint f;
  f.Add(kFitVersion);
  f.Add(ColorModeName(options.color_mode));
  f.Add(absl::StrCat(options.sample_limit, ":", options.sample_seed, ":", options.max_pixels));
  for (const SampleEntry& s : dataset.samples()) {
    f.Add(absl::StrCat(s.relative_path, "\t", s.size_bytes, "\t", s.mtime_ns));
  }
  return f.Hex();
}

StatsFitter::StatsFitter(std::shared_ptr<const DatasetIndex> dataset, FitOptions options, Scheduler* scheduler,
                         MemoryBudget* scratch)
    : dataset_(std::move(dataset)),
      options_(std::move(options)),
      queue_(scheduler->NewQueue(Scheduler::Priority::kBackground)),
      workers_(scheduler->size()),
      scratch_(scratch),
      fingerprint_(StatsFingerprint(*dataset_, options_)),
      result_(absl::UnavailableError("statistics are being fitted")) {
  const int64_t n = dataset_->num_samples();
  if (options_.sample_limit > 0 && options_.sample_limit < n) {
    std::vector<int64_t> order = EpochOrder(n, true, options_.sample_seed, 0x57a75ull);
    ids_.assign(order.begin(), order.begin() + options_.sample_limit);
    std::sort(ids_.begin(), ids_.end());
  } else {
    ids_ = EpochOrder(n, false, 0, 0);
  }
  const size_t num_chunks = (ids_.size() + kChunkImages - 1) / kChunkImages;
  chunks_.assign(num_chunks, ChannelStats(ChannelsOf(options_.color_mode)));
  chunk_failures_.assign(num_chunks, 0);
  started_ns_ = absl::GetCurrentTimeNanos();
}

std::shared_ptr<StatsFitter> StatsFitter::Start(std::shared_ptr<const DatasetIndex> dataset, FitOptions options,
                                                Scheduler* scheduler, MemoryBudget* scratch) {
  std::shared_ptr<StatsFitter> f(new StatsFitter(std::move(dataset), std::move(options), scheduler, scratch));
  if (!f->LoadCache()) f->ScheduleChunks();
  return f;
}

std::string StatsFitter::CachePath() const {
  return absl::StrCat(options_.cache_dir, "/stats/", SafeFileName(dataset_->name()), "-",
                      fingerprint_.substr(0, 16), ".json");
}

bool StatsFitter::LoadCache() {
  if (options_.cache_dir.empty()) return false;
  std::vector<uint8_t> bytes;
  if (!ReadFileToBuffer(CachePath(), &bytes, 1 << 20).ok()) return false;
  v1::DatasetStats cached;
  google::protobuf::util::JsonParseOptions parse;
  parse.ignore_unknown_fields = true;
  auto parsed = google::protobuf::util::JsonStringToMessage(std::string(bytes.begin(), bytes.end()), &cached, parse);
  const int channels = ChannelsOf(options_.color_mode);
  if (!parsed.ok() || cached.fingerprint() != fingerprint_ || cached.state() != v1::DatasetStats::STATE_READY ||
      cached.mean_size() != channels || cached.std_size() != channels || cached.min_size() != channels ||
      cached.max_size() != channels) {
    return false;  // stale or damaged: refit (and overwrite)
  }
  cached.set_from_cache(true);
  fitted_ = static_cast<int64_t>(ids_.size());
  Finish(std::move(cached));
  return true;
}

void StatsFitter::ScheduleChunks() {
  std::vector<size_t> to_run;
  {
    MutexLock lock(&mu_);
    if (chunks_.empty() && !done_) {
      to_run.push_back(SIZE_MAX);  // nothing to fit
    }
    while (!cancelled_.load() && next_chunk_ < chunks_.size() &&
           next_chunk_ - chunks_done_ < static_cast<size_t>(workers_)) {
      to_run.push_back(next_chunk_++);
    }
  }
  if (!to_run.empty() && to_run[0] == SIZE_MAX) {
    Finish(absl::FailedPreconditionError(absl::StrCat("dataset '", dataset_->name(), "' has no images to fit")));
    return;
  }
  std::shared_ptr<StatsFitter> self = shared_from_this();
  for (size_t c : to_run) queue_->Schedule([self, c] { self->RunChunk(c); });
}

void StatsFitter::RunChunk(size_t chunk) {
  thread_local std::vector<uint8_t> bytes;
  thread_local Image image;
  ChannelStats local(ChannelsOf(options_.color_mode));
  int64_t failures = 0;
  const size_t end = std::min(ids_.size(), (chunk + 1) * kChunkImages);
  for (size_t i = chunk * kChunkImages; i < end && !cancelled_.load(std::memory_order_relaxed); ++i) {
    if (!FitImage(ids_[i], &bytes, &image, &local).ok()) ++failures;
    fitted_.fetch_add(1, std::memory_order_relaxed);
  }
  bool last;
  {
    MutexLock lock(&mu_);
    chunks_[chunk] = local;
    chunk_failures_[chunk] = failures;
    last = ++chunks_done_ == chunks_.size();
  }
  if (cancelled_.load()) {
    Finish(absl::CancelledError("statistics fitting cancelled"));
    return;
  }
  if (!last) {
    ScheduleChunks();
    return;
  }
  // Merge in chunk order: the result is independent of scheduling.
  ChannelStats total(ChannelsOf(options_.color_mode));
  int64_t failed = 0;
  double seconds;
  {
    MutexLock lock(&mu_);
    for (size_t c = 0; c < chunks_.size(); ++c) {
      total.Merge(chunks_[c]);
      failed += chunk_failures_[c];
    }
    seconds = static_cast<double>(absl::GetCurrentTimeNanos() - started_ns_) * 1e-9;
  }
  if (total.count() == 0) {
    Finish(absl::DataLossError(absl::StrCat("no image of dataset '", dataset_->name(), "' could be decoded (",
                                            failed, " failed)")));
    return;
  }
  v1::DatasetStats stats;
  stats.set_dataset(dataset_->name());
  stats.set_state(v1::DatasetStats::STATE_READY);
  stats.set_samples_fitted(static_cast<int64_t>(ids_.size()));
  stats.set_samples_total(static_cast<int64_t>(ids_.size()));
  stats.set_count(total.count());
  for (int c = 0; c < total.channels(); ++c) {
    stats.add_mean(total.mean(c));
    stats.add_std(total.stddev(c));
    stats.add_min(total.min(c));
    stats.add_max(total.max(c));
  }
  stats.set_color_mode(ColorModeName(options_.color_mode));
  stats.set_files_failed(failed);
  stats.set_fingerprint(fingerprint_);
  stats.set_fit_seconds(seconds);
  if (!options_.cache_dir.empty()) {
    std::string json;
    google::protobuf::util::JsonPrintOptions print;
    print.preserve_proto_field_names = true;
    print.add_whitespace = true;
    // A cache that cannot be written costs a refit at the next start, nothing more.
    if (MakeDirs(options_.cache_dir + "/stats").ok() &&
        google::protobuf::util::MessageToJsonString(stats, &json, print).ok()) {
      WriteFileAtomically(CachePath(), json).IgnoreError();
    }
  }
  Finish(std::move(stats));
}

absl::Status StatsFitter::FitImage(int64_t id, std::vector<uint8_t>* bytes, Image* image, ChannelStats* stats) {
  DecodeOptions decode;
  decode.max_pixels = options_.max_pixels;
  RETURN_IF_ERROR(dataset_->ReadSample(id, bytes));
  MemoryReservation reserved;
  if (scratch_ != nullptr) {
    // Upper bound of the decoded pixels: 4 channels of 16 bits, plus the
    // decoder's own copy for EXIF rotation / CMYK.
    ASSIGN_OR_RETURN(ImageHeader header, PeekImageHeader(absl::MakeConstSpan(*bytes), decode));
    const int64_t need = int64_t{header.width} * header.height * 4 * 2 * 2;
    RETURN_IF_ERROR(scratch_->Reserve(need));
    reserved = MemoryReservation(scratch_, need);
  }
  RETURN_IF_ERROR(DecodeImage(absl::MakeConstSpan(*bytes), decode, image));
  stats->AddImage(*image, options_.color_mode);
  if (image->data.capacity() > (size_t{16} << 20)) *image = Image();  // an outlier's buffer is not kept
  return absl::OkStatus();
}

void StatsFitter::Finish(absl::StatusOr<v1::DatasetStats> result) {
  std::vector<std::function<void(const absl::StatusOr<v1::DatasetStats>&)>> waiters;
  {
    MutexLock lock(&mu_);
    if (done_) return;
    done_ = true;
    result_ = result;
    waiters.swap(waiters_);
  }
  for (auto& w : waiters) w(result);
}

v1::DatasetStats StatsFitter::Snapshot() const {
  MutexLock lock(&mu_);
  if (done_ && result_.ok()) return *result_;
  v1::DatasetStats s;
  s.set_dataset(dataset_->name());
  s.set_color_mode(ColorModeName(options_.color_mode));
  s.set_fingerprint(fingerprint_);
  s.set_samples_total(static_cast<int64_t>(ids_.size()));
  s.set_samples_fitted(fitted_.load());
  if (done_) {
    s.set_state(v1::DatasetStats::STATE_FAILED);
    s.set_error(std::string(result_.status().message()));
  } else {
    s.set_state(v1::DatasetStats::STATE_FITTING);
  }
  return s;
}

void StatsFitter::WhenReady(std::function<void(const absl::StatusOr<v1::DatasetStats>&)> done) {
  absl::StatusOr<v1::DatasetStats> r;
  {
    MutexLock lock(&mu_);
    if (!done_) {
      waiters_.push_back(std::move(done));
      return;
    }
    r = result_;
  }
  done(r);
}

void StatsFitter::Cancel() {
  cancelled_.store(true);
  bool idle;
  {
    MutexLock lock(&mu_);
    idle = next_chunk_ == chunks_done_;
  }
  if (idle) Finish(absl::CancelledError("statistics fitting cancelled"));
}

}  // namespace imagefeed
