#include "server/runtime/scheduler.h"

#include <atomic>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "common/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace imagefeed {
namespace {

// Holds the only worker inside a task until Open(), so a test can queue
// everything first and then observe the order in which tasks are taken.
class Gate {
 public:
  void Enter() {
    MutexLock lock(&mu_);
    entered_ = true;
    changed_.SignalAll();
    while (!open_) changed_.Wait(&mu_);
  }
  void WaitEntered() {
    MutexLock lock(&mu_);
    while (!entered_) changed_.Wait(&mu_);
  }
  void Open() {
    MutexLock lock(&mu_);
    open_ = true;
    changed_.SignalAll();
  }

 private:
  Mutex mu_;
  CondVar changed_;
  bool entered_ = false;
  bool open_ = false;
};

// Records task labels in execution order and lets the test wait for a count.
class Log {
 public:
  void Add(char c) {
    MutexLock lock(&mu_);
    order_.push_back(c);
    changed_.SignalAll();
  }
  std::string WaitFor(size_t n) {
    MutexLock lock(&mu_);
    while (order_.size() < n) changed_.Wait(&mu_);
    return order_;
  }

 private:
  Mutex mu_;
  CondVar changed_;
  std::string order_;
};

TEST(SchedulerTest, ForegroundQueuesTakeTurnsSoABigQueueCannotStarveASmallOne) {
  Scheduler scheduler(1);
  Gate gate;
  Log log;
  auto blocker = scheduler.NewQueue(Scheduler::Priority::kForeground);
  blocker->Schedule([&] { gate.Enter(); });
  gate.WaitEntered();
  auto big = scheduler.NewQueue(Scheduler::Priority::kForeground);
  auto small = scheduler.NewQueue(Scheduler::Priority::kForeground);
  for (int i = 0; i < 100; ++i) big->Schedule([&] { log.Add('B'); });
  for (int i = 0; i < 4; ++i) small->Schedule([&] { log.Add('s'); });
  EXPECT_EQ(scheduler.queued_tasks(), 104);
  gate.Open();
  // FIFO would run all 100 B first; round robin alternates while both have work.
  EXPECT_EQ(log.WaitFor(104).substr(0, 10), "BsBsBsBsBB");
  EXPECT_TRUE(scheduler.WaitUntilIdle(std::chrono::seconds(30)));
  EXPECT_EQ(scheduler.queued_tasks(), 0);
  EXPECT_EQ(scheduler.running_tasks(), 0);
}

TEST(SchedulerTest, BackgroundRunsOnlyWhenNoForegroundWorkIsQueued) {
  Scheduler scheduler(1);
  Gate gate;
  Log log;
  auto blocker = scheduler.NewQueue(Scheduler::Priority::kForeground);
  blocker->Schedule([&] { gate.Enter(); });
  gate.WaitEntered();
  auto stats = scheduler.NewQueue(Scheduler::Priority::kBackground);
  auto stream = scheduler.NewQueue(Scheduler::Priority::kForeground);
  for (int i = 0; i < 3; ++i) stats->Schedule([&] { log.Add('b'); });
  for (int i = 0; i < 3; ++i) stream->Schedule([&] { log.Add('F'); });
  gate.Open();
  EXPECT_EQ(log.WaitFor(6), "FFFbbb");
}

TEST(SchedulerTest, ClearAndDestructionDropQueuedTasksWithoutRunningThem) {
  Scheduler scheduler(1);
  Gate gate;
  Log log;
  auto blocker = scheduler.NewQueue(Scheduler::Priority::kForeground);
  blocker->Schedule([&] { gate.Enter(); });
  gate.WaitEntered();
  auto cleared = scheduler.NewQueue(Scheduler::Priority::kForeground);
  auto dropped = scheduler.NewQueue(Scheduler::Priority::kForeground);
  auto kept = scheduler.NewQueue(Scheduler::Priority::kForeground);
  auto owned = std::make_shared<int>(7);
  for (int i = 0; i < 5; ++i) cleared->Schedule([&, owned] { log.Add('c'); });
  for (int i = 0; i < 5; ++i) dropped->Schedule([&] { log.Add('d'); });
  kept->Schedule([&] { log.Add('k'); });
  EXPECT_EQ(cleared->Clear(), 5u);
  EXPECT_EQ(owned.use_count(), 1) << "cleared closures are destroyed";
  dropped.reset();
  EXPECT_EQ(scheduler.queued_tasks(), 1);
  gate.Open();
  EXPECT_EQ(log.WaitFor(1), "k");
}

TEST(SchedulerTest, ATaskThatThrowsDoesNotTakeItsWorkerDown) {
  Scheduler scheduler(1);
  Log log;
  auto q = scheduler.NewQueue(Scheduler::Priority::kForeground);
  q->Schedule([] { throw std::runtime_error("boom"); });
  q->Schedule([&] { log.Add('k'); });
  EXPECT_EQ(log.WaitFor(1), "k");
}

TEST(SchedulerTest, ManyProducersAllTasksRunExactlyOnce) {
  Scheduler scheduler(4);
  constexpr int kProducers = 8, kTasks = 2000;
  std::atomic<int> ran{0};
  Mutex mu;
  CondVar done;
  int finished = 0;
  std::vector<std::thread> producers;
  std::vector<std::shared_ptr<Scheduler::Queue>> queues;
  for (int p = 0; p < kProducers; ++p) queues.push_back(scheduler.NewQueue(Scheduler::Priority::kForeground));
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      for (int i = 0; i < kTasks; ++i) {
        queues[p]->Schedule([&] {
          ran.fetch_add(1);
          MutexLock lock(&mu);
          if (++finished == kProducers * kTasks) done.SignalAll();
        });
      }
    });
  }
  for (auto& t : producers) t.join();
  {
    MutexLock lock(&mu);
    while (finished < kProducers * kTasks) done.Wait(&mu);
  }
  EXPECT_EQ(ran.load(), kProducers * kTasks);
}

}  // namespace
}  // namespace imagefeed
