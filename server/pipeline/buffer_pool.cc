#include "server/pipeline/buffer_pool.h"

namespace imagefeed {

std::unique_ptr<BufferPool::Buffer> BufferPool::Acquire(size_t size) {
  std::unique_ptr<Buffer> found;
  {
    absl::MutexLock lock(&mu_);
    // Best fit: the smallest idle buffer whose capacity suffices.
    size_t best = idle_.size();
    for (size_t i = 0; i < idle_.size(); ++i) {
      if (idle_[i]->capacity() >= size &&
          (best == idle_.size() || idle_[i]->capacity() < idle_[best]->capacity())) {
        best = i;
      }
    }
    if (best != idle_.size()) {
      found = std::move(idle_[best]);
      idle_.erase(idle_.begin() + static_cast<std::ptrdiff_t>(best));
      retained_bytes_ -= found->capacity();
    }
  }
  if (!found) found = std::make_unique<Buffer>();
  found->resize(size);
  return found;
}

void BufferPool::Release(std::unique_ptr<Buffer> buffer) {
  if (!buffer) return;
  absl::MutexLock lock(&mu_);
  if (retained_bytes_ + buffer->capacity() > max_retained_bytes_) return;  // freed on return
  retained_bytes_ += buffer->capacity();
  idle_.push_back(std::move(buffer));
}

}  // namespace imagefeed
