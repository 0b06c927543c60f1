#ifndef IMAGEFEED_SERVER_RUNTIME_SCHEDULER_H_
#define IMAGEFEED_SERVER_RUNTIME_SCHEDULER_H_

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "common/mutex.h"

namespace imagefeed {

// The server's one fixed pool of worker threads, shared fairly.
//
// Work is submitted through queues: one per stream, one per statistics fit.
// Workers take one task at a time from the foreground queues in round-robin
// order, so a stream with thousands of queued samples cannot starve a stream
// with eight; background queues (statistics fitting) run only when no
// foreground queue has work. Within a queue tasks run in FIFO order.
// Thread-safe.
class Scheduler {
 public:
  enum class Priority { kForeground, kBackground };
  class Queue;

  // `num_threads` <= 0 means one per hardware thread.
  explicit Scheduler(int num_threads);
  // Drops the tasks that have not started, then joins the workers.
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // A new queue. The queue must not outlive the scheduler.
  std::shared_ptr<Queue> NewQueue(Priority priority);

  int size() const { return static_cast<int>(threads_.size()); }
  // Tasks queued and not yet started, over all queues.
  int64_t queued_tasks() const ABSL_LOCKS_EXCLUDED(mu_);
  // Tasks running now.
  int64_t running_tasks() const ABSL_LOCKS_EXCLUDED(mu_);
  // Waits until no task is queued or running (or `timeout` passes); true if idle.
  bool WaitUntilIdle(std::chrono::milliseconds timeout) const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct QueueState {
    Priority priority = Priority::kForeground;
    std::deque<std::function<void()>> tasks;
    bool in_ring = false;  // listed in ready_[priority]
  };

  void WorkLoop();
  void Push(QueueState* q, std::function<void()> fn) ABSL_LOCKS_EXCLUDED(mu_);
  std::deque<std::function<void()>> TakeAll(QueueState* q) ABSL_LOCKS_EXCLUDED(mu_);
  void Forget(QueueState* q) ABSL_LOCKS_EXCLUDED(mu_);

  mutable Mutex mu_;
  CondVar work_available_;
  mutable CondVar idle_;  // no task queued or running
  // Queues with tasks, in round-robin order; [0] foreground, [1] background.
  std::deque<QueueState*> ready_[2] ABSL_GUARDED_BY(mu_);
  int64_t queued_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t running_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Constant after construction.
  std::vector<std::thread> threads_;
};

// One client's tasks. Thread-safe. Destroying it drops its queued tasks.
class Scheduler::Queue {
 public:
  ~Queue();
  Queue(const Queue&) = delete;
  Queue& operator=(const Queue&) = delete;

  void Schedule(std::function<void()> fn);
  // Drops the tasks that have not started (e.g. a cancelled stream's);
  // returns how many. Their closures are destroyed on this thread.
  size_t Clear();

 private:
  friend class Scheduler;
  Queue(Scheduler* scheduler, Priority priority);

  Scheduler* const scheduler_;
  // Owned here, guarded by the scheduler's mutex.
  QueueState state_;
};

}  // namespace imagefeed

#endif  // IMAGEFEED_SERVER_RUNTIME_SCHEDULER_H_
