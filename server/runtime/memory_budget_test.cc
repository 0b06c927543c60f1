#include "server/runtime/memory_budget.h"

#include <atomic>
#include <thread>

#include "common/test_support.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/runtime/buffer_pool.h"

namespace imagefeed {
namespace {

using ::testing::HasSubstr;

TEST(MemoryBudgetTest, CountsReservationsAgainstTheCapacity) {
  MemoryBudget budget("memory budget (--memory_budget)", 100);
  EXPECT_TRUE(budget.TryReserve(60));
  EXPECT_FALSE(budget.TryReserve(41));
  EXPECT_TRUE(budget.TryReserve(40));
  EXPECT_EQ(budget.in_use(), 100);
  budget.Release(60);
  EXPECT_EQ(budget.in_use(), 40);
  EXPECT_EQ(budget.peak(), 100);
}

TEST(MemoryBudgetTest, RefusesWhatCanNeverFitNamingTheBudget) {
  MemoryBudget budget("memory budget (--memory_budget)", 100);
  absl::Status s = budget.Reserve(101);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(s.message()), HasSubstr("--memory_budget"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("101 bytes"));
  EXPECT_EQ(budget.in_use(), 0);
}

TEST(MemoryBudgetTest, ReserveWaitsForARelease) {
  MemoryBudget budget("b", 100);
  ASSERT_TRUE(budget.TryReserve(80));
  std::atomic<bool> reserved{false};
  std::thread waiter([&] {
    ASSERT_TRUE(budget.Reserve(50).ok());
    reserved = true;
  });
  EXPECT_FALSE(reserved.load());
  budget.Release(80);  // the waiter can only get its 50 bytes after this
  waiter.join();
  EXPECT_TRUE(reserved.load());
  EXPECT_EQ(budget.in_use(), 50);
}

TEST(MemoryBudgetTest, CallbackRunsOnceAfterTheNextRelease) {
  MemoryBudget budget("b", 100);
  ASSERT_TRUE(budget.TryReserve(90));
  int calls = 0;
  EXPECT_FALSE(budget.TryReserveOrCallOnRelease(20, [&] { ++calls; }));
  EXPECT_EQ(budget.waiting(), 1);
  EXPECT_EQ(calls, 0);
  budget.Release(10);
  EXPECT_EQ(calls, 1);
  budget.Release(10);
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(budget.TryReserveOrCallOnRelease(20, [&] { ++calls; }));
  EXPECT_EQ(budget.waiting(), 0);
}

TEST(MemoryReservationTest, GivesBytesBackOnDestructionAndMove) {
  MemoryBudget budget("b", 100);
  {
    ASSERT_TRUE(budget.TryReserve(30));
    MemoryReservation r(&budget, 30);
    MemoryReservation moved = std::move(r);
    EXPECT_EQ(r.bytes(), 0);
    EXPECT_EQ(budget.in_use(), 30);
  }
  EXPECT_EQ(budget.in_use(), 0);
}

TEST(BufferPoolTest, ChargesCapacityReusesIdleBuffersAndWaitsForRoom) {
  MemoryBudget budget("b", 1000);
  auto shared = BufferPool::Create(&budget, 400);
  BufferPool& pool = *shared;
  auto a = pool.TryAcquire(400, [] {});
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->size(), 400u);
  EXPECT_EQ(budget.in_use(), 400);
  auto b = pool.TryAcquire(500, [] {});
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(budget.in_use(), 900);
  bool room = false;
  EXPECT_EQ(pool.TryAcquire(200, [&] { room = true; }), nullptr);
  a.reset();  // idle, still charged
  EXPECT_EQ(budget.in_use(), 900);
  EXPECT_FALSE(room);
  auto c = pool.TryAcquire(300, [] {});  // reuses the idle 400-byte buffer
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->size(), 300u);
  EXPECT_EQ(budget.in_use(), 900);
  b.reset();  // 500 > 400 retained: b is freed
  EXPECT_TRUE(room);
  EXPECT_EQ(budget.in_use(), 400);
  c.reset();
  pool.Trim();
  EXPECT_EQ(budget.in_use(), 0);
  EXPECT_EQ(pool.retained_bytes(), 0u);
}

TEST(BufferPoolTest, IdleBuffersTooSmallToReuseAreFreedToMakeRoom) {
  MemoryBudget budget("b", 1000);
  auto shared = BufferPool::Create(&budget, 1000);
  BufferPool& pool = *shared;
  auto a = pool.TryAcquire(600, [] {});
  a.reset();
  auto big = pool.TryAcquire(700, [] {});
  ASSERT_NE(big, nullptr);
  EXPECT_EQ(budget.in_use(), 700);
}

}  // namespace
}  // namespace imagefeed
