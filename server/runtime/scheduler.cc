#include "server/runtime/scheduler.h"

#include <algorithm>
#include <cstdio>
#include <exception>

namespace imagefeed {

namespace {

// Tasks turn their own failures into statuses (the pipeline makes anything
// thrown a sample's error); this is the last line, so a bug in one task
// cannot take the worker, and with it the server, down.
void RunGuarded(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "imagefeed-server: a worker task threw (%s); continuing\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "imagefeed-server: a worker task threw; continuing\n");
  }
}

}  // namespace

Scheduler::Scheduler(int num_threads) {
  if (num_threads <= 0) num_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  threads_.reserve(num_threads);
  for (int i = 0; i < num_threads; ++i) threads_.emplace_back([this] { WorkLoop(); });
}

Scheduler::~Scheduler() {
  std::vector<std::function<void()>> dropped;
  {
    MutexLock lock(&mu_);
    stopping_ = true;
    for (auto& ring : ready_) {
      for (QueueState* q : ring) {
        for (auto& fn : q->tasks) dropped.push_back(std::move(fn));
        q->tasks.clear();
        q->in_ring = false;
      }
      ring.clear();
    }
    queued_ = 0;
  }
  work_available_.SignalAll();
  dropped.clear();  // closures may own objects whose destructors take locks: destroy unlocked
  for (std::thread& t : threads_) t.join();
}

std::shared_ptr<Scheduler::Queue> Scheduler::NewQueue(Priority priority) {
  return std::shared_ptr<Queue>(new Queue(this, priority));
}

int64_t Scheduler::queued_tasks() const {
  MutexLock lock(&mu_);
  return queued_;
}

int64_t Scheduler::running_tasks() const {
  MutexLock lock(&mu_);
  return running_;
}

bool Scheduler::WaitUntilIdle(std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  MutexLock lock(&mu_);
  while (running_ > 0 || queued_ > 0) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return false;
    idle_.WaitFor(&mu_, deadline - now);
  }
  return true;
}

void Scheduler::Push(QueueState* q, std::function<void()> fn) {
  {
    MutexLock lock(&mu_);
    if (stopping_) return;  // fn is destroyed after the lock is released
    q->tasks.push_back(std::move(fn));
    ++queued_;
    if (!q->in_ring) {
      q->in_ring = true;
      ready_[q->priority == Priority::kForeground ? 0 : 1].push_back(q);
    }
  }
  work_available_.Signal();
}

std::deque<std::function<void()>> Scheduler::TakeAll(QueueState* q) {
  std::deque<std::function<void()>> out;
  MutexLock lock(&mu_);
  out.swap(q->tasks);
  queued_ -= static_cast<int64_t>(out.size());
  if (running_ == 0 && queued_ == 0) idle_.SignalAll();
  // Leaving it in the ring is harmless: an empty queue is skipped and unlisted.
  return out;
}

void Scheduler::Forget(QueueState* q) {
  MutexLock lock(&mu_);
  for (auto& ring : ready_) ring.erase(std::remove(ring.begin(), ring.end(), q), ring.end());
  q->in_ring = false;
}

void Scheduler::WorkLoop() {
  for (;;) {
    std::function<void()> fn;
    {
      MutexLock lock(&mu_);
      for (;;) {
        if (stopping_) return;
        for (auto& ring : ready_) {
          while (!ring.empty() && !fn) {
            QueueState* q = ring.front();
            ring.pop_front();
            if (q->tasks.empty()) {  // cleared since it was listed
              q->in_ring = false;
              continue;
            }
            fn = std::move(q->tasks.front());
            q->tasks.pop_front();
            --queued_;
            if (q->tasks.empty()) {
              q->in_ring = false;
            } else {
              ring.push_back(q);  // round robin: its next task waits for the others' turn
            }
          }
          if (fn) break;
        }
        if (fn) break;
        work_available_.Wait(&mu_);
      }
      ++running_;
    }
    RunGuarded(fn);
    fn = nullptr;  // destroy the closure before counting the task as done
    MutexLock lock(&mu_);
    if (--running_ == 0 && queued_ == 0) idle_.SignalAll();
  }
}

Scheduler::Queue::Queue(Scheduler* scheduler, Priority priority) : scheduler_(scheduler) {
  state_.priority = priority;
}

Scheduler::Queue::~Queue() {
  Clear();
  scheduler_->Forget(&state_);
}

void Scheduler::Queue::Schedule(std::function<void()> fn) { scheduler_->Push(&state_, std::move(fn)); }

size_t Scheduler::Queue::Clear() {
  std::deque<std::function<void()>> dropped = scheduler_->TakeAll(&state_);
  return dropped.size();  // destroyed here, with no lock held
}

}  // namespace imagefeed
