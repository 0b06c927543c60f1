#ifndef IMAGEFEED_SERVER_RUNTIME_MEMORY_BUDGET_H_
#define IMAGEFEED_SERVER_RUNTIME_MEMORY_BUDGET_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "common/mutex.h"

namespace imagefeed {

// Counts bytes against a fixed capacity, before they are allocated.
//
// Two ways to wait for room: Reserve() blocks the calling thread (for
// workers' per-sample scratch: every holder releases without waiting for
// anything else, so waiting cannot deadlock), and TryReserveOrCallOnRelease()
// registers
// a callback (for streams, which must not block a worker while their client
// is slow). Thread-safe.
class MemoryBudget {
 public:
  // `name` appears in errors ("memory budget for batches (--memory_budget)").
  MemoryBudget(std::string name, int64_t capacity);
  MemoryBudget(const MemoryBudget&) = delete;
  MemoryBudget& operator=(const MemoryBudget&) = delete;

  // Takes `bytes` if they fit now.
  bool TryReserve(int64_t bytes) ABSL_LOCKS_EXCLUDED(mu_);
  // Blocks until `bytes` fit, then takes them. RESOURCE_EXHAUSTED at once,
  // naming the budget, if `bytes` exceeds the whole capacity.
  absl::Status Reserve(int64_t bytes) ABSL_LOCKS_EXCLUDED(mu_);
  // Gives back bytes taken by TryReserve/Reserve, waking waiters and running
  // the callbacks registered by TryReserveOrCallOnRelease (on this thread, no lock held).
  void Release(int64_t bytes) ABSL_LOCKS_EXCLUDED(mu_);
  // Takes `bytes` if they fit now; otherwise registers `fn` to run once after
  // the next Release() and returns false. One step, so no release is missed
  // between the failed attempt and the registration.
  bool TryReserveOrCallOnRelease(int64_t bytes, std::function<void()> fn) ABSL_LOCKS_EXCLUDED(mu_);

  // RESOURCE_EXHAUSTED naming the budget if `bytes` can never fit.
  absl::Status CheckFits(int64_t bytes, const std::string& what) const;

  const std::string& name() const { return name_; }
  int64_t capacity() const { return capacity_; }
  int64_t in_use() const ABSL_LOCKS_EXCLUDED(mu_);
  int64_t peak() const ABSL_LOCKS_EXCLUDED(mu_);
  // Callbacks registered and not yet run (streams waiting for room).
  int64_t waiting() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  const std::string name_;
  const int64_t capacity_;
  mutable Mutex mu_;
  CondVar released_;
  int64_t in_use_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t peak_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::function<void()>> on_release_ ABSL_GUARDED_BY(mu_);
};

// Bytes held from a MemoryBudget, given back on destruction. Move-only.
class MemoryReservation {
 public:
  MemoryReservation() = default;
  MemoryReservation(MemoryBudget* budget, int64_t bytes) : budget_(budget), bytes_(bytes) {}
  MemoryReservation(MemoryReservation&& other) noexcept { *this = std::move(other); }
  MemoryReservation& operator=(MemoryReservation&& other) noexcept {
    if (this != &other) {
      Reset();
      budget_ = other.budget_;
      bytes_ = other.bytes_;
      other.budget_ = nullptr;
      other.bytes_ = 0;
    }
    return *this;
  }
  ~MemoryReservation() { Reset(); }

  void Reset() {
    if (budget_ != nullptr && bytes_ > 0) budget_->Release(bytes_);
    budget_ = nullptr;
    bytes_ = 0;
  }
  int64_t bytes() const { return bytes_; }

 private:
  MemoryBudget* budget_ = nullptr;
  int64_t bytes_ = 0;
};

}  // namespace imagefeed

#endif  // IMAGEFEED_SERVER_RUNTIME_MEMORY_BUDGET_H_
