#ifndef IMAGEFEED_SERVER_RUNTIME_METRICS_H_
#define IMAGEFEED_SERVER_RUNTIME_METRICS_H_

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "common/mutex.h"

namespace imagefeed {

// The per-sample stages a stream's time is spent in.
enum class Stage { kRead, kDecode, kResize, kWrite };
inline constexpr int kNumStages = 4;
// "read", "decode", "resize", "write".
const char* StageName(Stage stage);

// Why a sample was skipped, by class (for counting, not for the user: the
// skip itself carries the full message).
enum class SkipReason { kUnreadable, kCorrupt, kUnsupported, kTooLarge, kOther };
inline constexpr int kNumSkipReasons = 5;
// "unreadable", "corrupt", "unsupported", "too_large", "other".
const char* SkipReasonName(SkipReason reason);
// Classifies a sample's error from its code and message: NOT_FOUND and
// read/open failures are "unreadable"; pixel caps and memory budgets
// "too_large"; unknown formats "unsupported"; other decode failures
// (INVALID_ARGUMENT / DATA_LOSS) "corrupt".
SkipReason ClassifySkip(const absl::Status& status);

// Nanoseconds from `start` to `end` (steady clock).
inline int64_t Nanos(std::chrono::steady_clock::time_point start, std::chrono::steady_clock::time_point end) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(end - start).count();
}

// Nanoseconds spent on one sample in each stage (0 if it did not reach it).
struct SampleTimings {
  std::array<int64_t, kNumStages> ns{};
};

// Fixed-bucket latency histogram (Prometheus style). Lock-free: one relaxed
// atomic add per observation. Thread-safe.
class LatencyHistogram {
 public:
  // Upper bounds in seconds: 0.1 ms .. 10 s, roughly 1-2.5-5 per decade.
  static constexpr int kNumBounds = 16;
  static const std::array<double, kNumBounds>& UpperBounds();

  void Observe(int64_t ns);

  struct Snapshot {
    std::array<int64_t, kNumBounds + 1> cumulative{};  // <= bound i; the last is +Inf
    double sum_seconds = 0;
    int64_t count = 0;
  };
  Snapshot Read() const;

 private:
  std::array<std::atomic<int64_t>, kNumBounds + 1> buckets_{};  // not cumulative
  std::atomic<int64_t> sum_ns_{0};
};

// Totals of the stages (of one stream or the whole server), as read.
struct StageSnapshot {
  int64_t samples = 0;
  std::array<double, kNumStages> seconds{};
  double wait_client_seconds = 0;
  int64_t batches_sent = 0;
  int64_t bytes_sent = 0;
  int64_t samples_sent = 0;
  std::array<int64_t, kNumSkipReasons> skipped{};
  int64_t samples_skipped() const;
};

// Counters of the stages. Lock-free (relaxed atomics: a snapshot may mix
// counts from slightly different moments). Thread-safe.
class StageCounters {
 public:
  // A sample went through the stages successfully.
  void AddSample(const SampleTimings& timings);
  void AddSkip(SkipReason reason);
  void AddWaitClient(int64_t ns);
  void AddBatchSent(int64_t bytes, int64_t samples);
  StageSnapshot Read() const;

 private:
  std::atomic<int64_t> samples_{0};
  std::array<std::atomic<int64_t>, kNumStages> ns_{};
  std::atomic<int64_t> wait_client_ns_{0};
  std::atomic<int64_t> batches_sent_{0};
  std::atomic<int64_t> bytes_sent_{0};
  std::atomic<int64_t> samples_sent_{0};
  std::array<std::atomic<int64_t>, kNumSkipReasons> skipped_{};
};

// Events per second over the last few whole seconds (a ring of one-second
// buckets). Thread-safe.
class RateMeter {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr int kWindowSeconds = 5;

  void Add(int64_t n, Clock::time_point now = Clock::now()) ABSL_LOCKS_EXCLUDED(mu_);
  // Events in the window ending at `now` (the current partial second and the
  // kWindowSeconds-1 before it) divided by the seconds the window covers
  // since the first event (at least 1 s, at most kWindowSeconds).
  double PerSecond(Clock::time_point now = Clock::now()) const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  int64_t SecondOf(Clock::time_point t) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  Clock::time_point origin_ ABSL_GUARDED_BY(mu_);
  std::array<int64_t, kWindowSeconds> counts_ ABSL_GUARDED_BY(mu_){};
  std::array<int64_t, kWindowSeconds> second_ ABSL_GUARDED_BY(mu_){};  // which second each bucket holds
};

// The server's stage totals and per-stage latency histograms.
struct ServerMetrics {
  StageCounters totals;
  std::array<LatencyHistogram, kNumStages> latency;
};

// Where one stream's measurements go: its own counters, and the server's
// totals and histograms. Thread-safe; `server` must outlive it.
class StreamMetrics {
 public:
  explicit StreamMetrics(ServerMetrics* server) : server_(server) {}
  void AddSample(const SampleTimings& timings);
  void AddSkip(SkipReason reason);
  void AddWaitClient(int64_t ns);
  void AddBatchSent(int64_t bytes, int64_t samples);
  const StageCounters& counters() const { return stream_; }
  // Samples delivered per second, recently.
  double SamplesPerSecond() const { return rate_.PerSecond(); }

 private:
  ServerMetrics* const server_;
  StageCounters stream_;
  RateMeter rate_;
};

}  // namespace imagefeed

#endif  // IMAGEFEED_SERVER_RUNTIME_METRICS_H_
