#include "server/runtime/memory_budget.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace imagefeed {

MemoryBudget::MemoryBudget(std::string name, int64_t capacity) : name_(std::move(name)), capacity_(capacity) {}

bool MemoryBudget::TryReserve(int64_t bytes) {
  MutexLock lock(&mu_);
  if (bytes > capacity_ - in_use_) return false;
  in_use_ += bytes;
  peak_ = std::max(peak_, in_use_);
  return true;
}

absl::Status MemoryBudget::CheckFits(int64_t bytes, const std::string& what) const {
  if (bytes <= capacity_) return absl::OkStatus();
  return absl::ResourceExhaustedError(absl::StrCat(what, " needs ", bytes, " bytes, more than the server's ", name_,
                                                   " of ", capacity_, " bytes"));
}

absl::Status MemoryBudget::Reserve(int64_t bytes) {
  if (absl::Status fits = CheckFits(bytes, "this sample"); !fits.ok()) return fits;
  MutexLock lock(&mu_);
  while (bytes > capacity_ - in_use_) released_.Wait(&mu_);
  in_use_ += bytes;
  peak_ = std::max(peak_, in_use_);
  return absl::OkStatus();
}

void MemoryBudget::Release(int64_t bytes) {
  std::vector<std::function<void()>> callbacks;
  {
    MutexLock lock(&mu_);
    in_use_ -= bytes;
    callbacks.swap(on_release_);
  }
  released_.SignalAll();
  for (auto& fn : callbacks) fn();
}

bool MemoryBudget::TryReserveOrCallOnRelease(int64_t bytes, std::function<void()> fn) {
  MutexLock lock(&mu_);
  if (bytes <= capacity_ - in_use_) {
    in_use_ += bytes;
    peak_ = std::max(peak_, in_use_);
    return true;
  }
  on_release_.push_back(std::move(fn));
  return false;
}

int64_t MemoryBudget::in_use() const {
  MutexLock lock(&mu_);
  return in_use_;
}

int64_t MemoryBudget::peak() const {
  MutexLock lock(&mu_);
  return peak_;
}

int64_t MemoryBudget::waiting() const {
  MutexLock lock(&mu_);
  return static_cast<int64_t>(on_release_.size());
}

}  // namespace imagefeed
