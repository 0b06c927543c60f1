#include "server/runtime/metrics.h"

#include "absl/strings/match.h"

namespace imagefeed {

const char* StageName(Stage stage) {
  switch (stage) {
    case Stage::kRead:
      return "read";
    case Stage::kDecode:
      return "decode";
    case Stage::kResize:
      return "resize";
    case Stage::kWrite:
      return "write";
  }
  return "?";
}

const char* SkipReasonName(SkipReason reason) {
  switch (reason) {
    case SkipReason::kUnreadable:
      return "unreadable";
    case SkipReason::kCorrupt:
      return "corrupt";
    case SkipReason::kUnsupported:
      return "unsupported";
    case SkipReason::kTooLarge:
      return "too_large";
    case SkipReason::kOther:
      return "other";
  }
  return "?";
}

SkipReason ClassifySkip(const absl::Status& status) {
  const absl::string_view m = status.message();
  // Limits first: a file above the read limit is a FAILED_PRECONDITION, a
  // pixel cap an INVALID_ARGUMENT, a budget RESOURCE_EXHAUSTED.
  if (status.code() == absl::StatusCode::kResourceExhausted || absl::StrContains(m, "more than the cap") ||
      absl::StrContains(m, "above the limit") || absl::StrContains(m, "absurd dimensions")) {
    return SkipReason::kTooLarge;
  }
  if (absl::StrContains(m, "unsupported") || absl::StrContains(m, "not a JPEG or PNG")) {
    return SkipReason::kUnsupported;
  }
  switch (status.code()) {
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kFailedPrecondition:
      return SkipReason::kUnreadable;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kDataLoss:
      return SkipReason::kCorrupt;
    default:
      return SkipReason::kOther;
  }
}

const std::array<double, LatencyHistogram::kNumBounds>& LatencyHistogram::UpperBounds() {
  static const std::array<double, kNumBounds> kBounds = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                         0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                                         1,      2.5,     5,      10};
  return kBounds;
}

void LatencyHistogram::Observe(int64_t ns) {
  const double seconds = static_cast<double>(ns) * 1e-9;
  const auto& bounds = UpperBounds();
  int i = 0;
  while (i < kNumBounds && seconds > bounds[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(ns, std::memory_order_relaxed);
}

LatencyHistogram::Snapshot LatencyHistogram::Read() const {
  Snapshot s;
  int64_t running = 0;
  for (int i = 0; i <= kNumBounds; ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    s.cumulative[i] = running;
  }
  s.count = running;
  s.sum_seconds = static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) * 1e-9;
  return s;
}

int64_t StageSnapshot::samples_skipped() const {
  int64_t n = 0;
  for (int64_t k : skipped) n += k;
  return n;
}

void StageCounters::AddSample(const SampleTimings& timings) {
  samples_.fetch_add(1, std::memory_order_relaxed);
  for (int i = 0; i < kNumStages; ++i) ns_[i].fetch_add(timings.ns[i], std::memory_order_relaxed);
}

void StageCounters::AddSkip(SkipReason reason) {
  skipped_[static_cast<int>(reason)].fetch_add(1, std::memory_order_relaxed);
}

void StageCounters::AddWaitClient(int64_t ns) { wait_client_ns_.fetch_add(ns, std::memory_order_relaxed); }

void StageCounters::AddBatchSent(int64_t bytes, int64_t samples) {
  batches_sent_.fetch_add(1, std::memory_order_relaxed);
  bytes_sent_.fetch_add(bytes, std::memory_order_relaxed);
  samples_sent_.fetch_add(samples, std::memory_order_relaxed);
}

StageSnapshot StageCounters::Read() const {
  StageSnapshot s;
  s.samples = samples_.load(std::memory_order_relaxed);
  for (int i = 0; i < kNumStages; ++i) s.seconds[i] = static_cast<double>(ns_[i].load(std::memory_order_relaxed)) * 1e-9;
  s.wait_client_seconds = static_cast<double>(wait_client_ns_.load(std::memory_order_relaxed)) * 1e-9;
  s.batches_sent = batches_sent_.load(std::memory_order_relaxed);
  s.bytes_sent = bytes_sent_.load(std::memory_order_relaxed);
  s.samples_sent = samples_sent_.load(std::memory_order_relaxed);
  for (int i = 0; i < kNumSkipReasons; ++i) s.skipped[i] = skipped_[i].load(std::memory_order_relaxed);
  return s;
}

int64_t RateMeter::SecondOf(Clock::time_point t) const {
  return std::chrono::duration_cast<std::chrono::seconds>(t - origin_).count();
}

void RateMeter::Add(int64_t n, Clock::time_point now) {
  MutexLock lock(&mu_);
  if (!started_) {
    started_ = true;
    origin_ = now;
  }
  const int64_t sec = SecondOf(now);
  const int b = static_cast<int>(sec % kWindowSeconds);
  if (second_[b] != sec) {
    second_[b] = sec;
    counts_[b] = 0;
  }
  counts_[b] += n;
}

double RateMeter::PerSecond(Clock::time_point now) const {
  MutexLock lock(&mu_);
  if (!started_ || now < origin_) return 0;
  const int64_t sec = SecondOf(now);
  int64_t events = 0;
  for (int b = 0; b < kWindowSeconds; ++b) {
    if (second_[b] > sec - kWindowSeconds && second_[b] <= sec) events += counts_[b];
  }
  const double since_origin = std::chrono::duration<double>(now - origin_).count();
  // The window: the full seconds before `now`'s second plus the part of it elapsed.
  const double window = std::min<double>(since_origin, (kWindowSeconds - 1) + (since_origin - static_cast<double>(sec)));
  return static_cast<double>(events) / std::max(1.0, window);
}

void StreamMetrics::AddSample(const SampleTimings& timings) {
  stream_.AddSample(timings);
  server_->totals.AddSample(timings);
  for (int i = 0; i < kNumStages; ++i) server_->latency[i].Observe(timings.ns[i]);
}

void StreamMetrics::AddSkip(SkipReason reason) {
  stream_.AddSkip(reason);
  server_->totals.AddSkip(reason);
}

void StreamMetrics::AddWaitClient(int64_t ns) {
  stream_.AddWaitClient(ns);
  server_->totals.AddWaitClient(ns);
}

void StreamMetrics::AddBatchSent(int64_t bytes, int64_t samples) {
  stream_.AddBatchSent(bytes, samples);
  server_->totals.AddBatchSent(bytes, samples);
  rate_.Add(samples);
}

}  // namespace imagefeed
