#ifndef IMAGEFEED_SERVER_PIPELINE_THREAD_POOL_H_
#define IMAGEFEED_SERVER_PIPELINE_THREAD_POOL_H_

#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace imagefeed {

// A fixed pool of worker threads running closures in FIFO order. All
// streams share one pool, so the server's CPU use is bounded by its size.
// Thread-safe. The destructor runs the queued closures, then joins.
class ThreadPool {
 public:
  // `num_threads` <= 0 means one per hardware thread.
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  void Schedule(std::function<void()> fn);
  int size() const { return static_cast<int>(threads_.size()); }

 private:
  void WorkLoop();

  absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Constant after construction.
  std::vector<std::thread> threads_;
};

}  // namespace imagefeed

#endif  // IMAGEFEED_SERVER_PIPELINE_THREAD_POOL_H_
