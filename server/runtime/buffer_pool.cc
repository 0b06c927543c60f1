#include "server/runtime/buffer_pool.h"

namespace imagefeed {

std::unique_ptr<BatchBuffer> BufferPool::TakeIdle(size_t size) {
  MutexLock lock(&mu_);
  // Best fit: the smallest idle buffer whose capacity suffices.
  size_t best = idle_.size();
  for (size_t i = 0; i < idle_.size(); ++i) {
    if (idle_[i]->capacity() >= size && (best == idle_.size() || idle_[i]->capacity() < idle_[best]->capacity())) {
      best = i;
    }
  }
  if (best == idle_.size()) return nullptr;
  std::unique_ptr<BatchBuffer> found = std::move(idle_[best]);
  idle_.erase(idle_.begin() + static_cast<std::ptrdiff_t>(best));
  retained_bytes_ -= found->capacity();
  return found;
}

BatchBufferSource::Pooled BufferPool::TryAcquire(size_t size, std::function<void()> on_room) {
  if (std::unique_ptr<BatchBuffer> idle = TakeIdle(size)) {  // already charged
    idle->resize(size);
    return Pooled(idle.release(), Returner{shared_from_this()});
  }
  if (!budget_->TryReserve(static_cast<int64_t>(size))) {
    Trim();  // idle buffers too small to reuse still hold budget
    if (!budget_->TryReserveOrCallOnRelease(static_cast<int64_t>(size), std::move(on_room))) return Pooled(nullptr, Returner{});
  }
  auto fresh = std::make_unique<BatchBuffer>(size, size);  // capacity == size: exactly what was charged
  return Pooled(fresh.release(), Returner{shared_from_this()});
}

void BufferPool::Release(std::unique_ptr<BatchBuffer> buffer) {
  if (!buffer) return;
  {
    MutexLock lock(&mu_);
    if (retain_ && retained_bytes_ + buffer->capacity() <= max_retained_bytes_) {
      retained_bytes_ += buffer->capacity();
      idle_.push_back(std::move(buffer));
      return;
    }
  }
  std::vector<std::unique_ptr<BatchBuffer>> one;
  one.push_back(std::move(buffer));
  Free(std::move(one));
}

void BufferPool::Trim() {
  std::vector<std::unique_ptr<BatchBuffer>> idle;
  {
    MutexLock lock(&mu_);
    idle.swap(idle_);
    retained_bytes_ = 0;
  }
  Free(std::move(idle));
}

void BufferPool::Free(std::vector<std::unique_ptr<BatchBuffer>> buffers) {
  int64_t bytes = 0;
  for (auto& b : buffers) bytes += static_cast<int64_t>(b->capacity());
  buffers.clear();  // freed before the budget says the room exists
  if (bytes > 0) budget_->Release(bytes);  // no lock held: callbacks may acquire
}

void BufferPool::SetRetain(bool retain) {
  {
    MutexLock lock(&mu_);
    retain_ = retain;
  }
  if (!retain) Trim();
}

size_t BufferPool::retained_bytes() const {
  MutexLock lock(&mu_);
  return retained_bytes_;
}

}  // namespace imagefeed
