// The C++ fan-in client against real imagefeed-server processes on
// 127.0.0.1 (issue #10): one server and three give byte-identical streams;
// a SIGKILLed or stopped server is failed over with every sample exactly
// once in the one-server order; all servers gone ends in a bounded time
// with an error naming each; a cursor resumes on other servers; servers of
// different dataset versions are refused; a 4-rank job resumed with 3 ranks
// covers the epoch once; 1,000 cancels leak no threads.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/cursor_token.h"
#include "client/fan_in_reader.h"
#include "common/mutex.h"
#include "common/test_support.h"
#include "imagefeed/v1/imagefeed.grpc.pb.h"
#include "tests/test_server.h"

extern char** environ;

namespace imagefeed {
namespace {

using Clock = std::chrono::steady_clock;
using ::testing::HasSubstr;
using ::testing::Not;

// One imagefeed-server process serving `dataset_root` as dataset "d".
class ServerProcess {
 public:
  ServerProcess(const std::string& dataset_root, const std::string& cache_dir) {
    int out[2];
    if (pipe(out) != 0) return;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    posix_spawn_file_actions_addclose(&actions, out[0]);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    std::vector<std::string> args = {IMAGEFEED_SERVER_BIN, "--listen=127.0.0.1:0", "--threads=1",
                                     "--cache_dir=" + cache_dir, "--dataset=d=" + dataset_root};
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
    close(out[1]);
    std::string line;
    char c;
    while (read(out[0], &c, 1) == 1 && c != '\n') line.push_back(c);
    close(out[0]);
    const std::string prefix = "imagefeed-server listening on ";
    if (absl::StartsWith(line, prefix)) address_ = line.substr(prefix.size());
  }
  ~ServerProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGCONT);
      Signal(SIGKILL);
    }
  }
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  const std::string& address() const { return address_; }
  // SIGKILL waits for the process to be gone.
  void Signal(int sig) {
    if (pid_ <= 0) return;
    kill(pid_, sig);
    if (sig == SIGKILL) {
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }

 private:
  pid_t pid_ = -1;
  std::string address_;
};

struct Servers {
  ScopedTempDir dir;
  std::vector<std::unique_ptr<ServerProcess>> procs;

  Servers(int n, const std::string& dataset_root) {
    for (int i = 0; i < n; ++i) {
      procs.push_back(std::make_unique<ServerProcess>(dataset_root, absl::StrCat(dir.path(), "/cache", i)));
    }
  }
  std::vector<std::string> addresses() const {
    std::vector<std::string> out;
    for (const auto& p : procs) out.push_back(p->address());
    return out;
  }
};

struct ReadResult {
  std::vector<v1::Batch> batches;
  absl::Status status;
  std::string cursor;
  int failovers = 0;
  double slowest_next_after_hook = 0;  // seconds
};

// Reads the whole stream; `after` runs after batch `hook_at` was delivered.
ReadResult ReadAll(FanInClient& client, const v1::StreamBatchesRequest& request, int hook_at = -1,
                   const std::function<void()>& after = nullptr) {
  ReadResult r;
  std::unique_ptr<FanInReader> reader = client.StreamBatches(request);
  v1::Batch b;
  for (;;) {
    const Clock::time_point t0 = Clock::now();
    if (!reader->Next(&b)) break;
    if (hook_at >= 0 && static_cast<int>(r.batches.size()) > hook_at) {
      r.slowest_next_after_hook =
          std::max(r.slowest_next_after_hook, std::chrono::duration<double>(Clock::now() - t0).count());
    }
    r.batches.push_back(b);
    if (static_cast<int>(r.batches.size()) == hook_at + 1 && after) after();
  }
  r.status = reader->Finish();
  r.cursor = reader->cursor();
  r.failovers = reader->failovers();
  return r;
}

// Byte-identical: every field of every batch (data, labels, ids, position,
// span, cursor, fingerprints) in the same order.
void ExpectSameStream(const std::vector<v1::Batch>& got, const std::vector<v1::Batch>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].SerializeAsString(), want[i].SerializeAsString())
        << "batch " << i << ": position " << got[i].position() << " vs " << want[i].position();
  }
}

// Every sample id of the rank's share exactly once, positions contiguous.
void ExpectExactlyOnce(const std::vector<v1::Batch>& batches, size_t expected_samples) {
  std::vector<int64_t> ids;
  uint64_t next = batches.empty() ? 0 : batches[0].position();
  for (const v1::Batch& b : batches) {
    EXPECT_EQ(b.position(), next);
    next = b.position() + b.span();
    ids.insert(ids.end(), b.sample_ids().begin(), b.sample_ids().end());
  }
  std::vector<int64_t> sorted = ids;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(std::unique(sorted.begin(), sorted.end()), sorted.end()) << "a sample was delivered twice";
  EXPECT_EQ(ids.size(), expected_samples);
}

v1::StreamBatchesRequest Request(uint32_t batch, uint32_t side) {
  v1::StreamBatchesRequest r;
  r.set_dataset("d");
  r.set_batch_size(batch);
  r.set_height(side);
  r.set_width(side);
  r.set_shuffle(true);
  r.set_seed(11);
  r.set_epoch(2);
  return r;
}

FanInOptions Fast() {
  FanInOptions o;
  o.failover_timeout = std::chrono::milliseconds(3000);
  o.initial_backoff = std::chrono::milliseconds(100);
  o.max_backoff = std::chrono::milliseconds(400);
  return o;
}

int ThreadCount() {
  int n = 0;
  if (DIR* d = opendir("/proc/self/task")) {
    while (dirent* e = readdir(d)) n += e->d_name[0] != '.';
    closedir(d);
  }
  return n;
}

int64_t RssKb() {
  std::ifstream f("/proc/self/status");
  std::string key;
  int64_t value = 0;
  while (f >> key) {
    if (key == "VmRSS:") {
      f >> value;
      return value;
    }
    f.ignore(1 << 10, '\n');
  }
  return 0;
}

class FanInTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    data_ = new ScopedTempDir();
    WriteTestDataset(data_->path() + "/small", 3, 13);  // 39 samples
    WriteTestDataset(data_->path() + "/other", 3, 14);  // another version of "d"
    WriteTestDataset(data_->path() + "/large", 3, 80);  // 240 samples, for the kills
    servers_ = new Servers(3, data_->path() + "/small");
  }
  static void TearDownTestSuite() {
    delete servers_;
    delete data_;
  }
  static std::string Root(const char* name) { return data_->path() + "/" + name; }

  static ScopedTempDir* data_;
  static Servers* servers_;
};
ScopedTempDir* FanInTest::data_ = nullptr;
Servers* FanInTest::servers_ = nullptr;

TEST_F(FanInTest, ThreeServersGiveTheOneServerStreamByteForByte) {
  const std::vector<std::string> all = servers_->addresses();
  for (const std::string& a : all) ASSERT_FALSE(a.empty()) << "a server did not start";
  FanInClient one({all[0]}), three(all), dns({absl::StrCat("dns:///", all[1])}, {}, Fast());
  std::vector<v1::StreamBatchesRequest> requests;
  requests.push_back(Request(5, 8));  // 8 batches, the last one short
  v1::StreamBatchesRequest ranks = Request(4, 8);
  ranks.set_world_size(2);
  ranks.set_rank(1);
  ranks.set_drop_last(true);
  ranks.set_random_flip(true);
  requests.push_back(ranks);
  v1::StreamBatchesRequest ordered = Request(3, 6);
  ordered.set_shuffle(false);
  ordered.set_world_size(3);
  requests.push_back(ordered);
  v1::StreamBatchesRequest pad = Request(4, 8);
  pad.set_world_size(2);
  pad.set_even_shards(v1::EVEN_SHARDS_PAD);
  requests.push_back(pad);
  for (const v1::StreamBatchesRequest& r : requests) {
    ReadResult a = ReadAll(one, r);
    ReadResult b = ReadAll(three, r);
    ReadResult c = ReadAll(dns, r);
    ASSERT_OK(a.status);
    ASSERT_OK(b.status);
    ASSERT_OK(c.status);
    ASSERT_GE(a.batches.size(), 4u) << r.ShortDebugString();
    ExpectSameStream(b.batches, a.batches);
    ExpectSameStream(c.batches, a.batches);
    EXPECT_EQ(b.cursor, a.cursor);
    EXPECT_EQ(b.cursor, EncodeCursor(a.batches.back().cursor()));
  }
}

TEST_F(FanInTest, ACursorResumesOnOtherServers) {
  const std::vector<std::string> all = servers_->addresses();
  FanInClient one({all[0]}), others({all[1], all[2]});
  const v1::StreamBatchesRequest r = Request(4, 8);
  ReadResult whole = ReadAll(one, r);
  ASSERT_OK(whole.status);
  ASSERT_EQ(whole.batches.size(), 10u);  // 39 samples in batches of 4
  // Stop after 3 batches on server 0, keep only the token, go on elsewhere.
  std::string token;
  {
    std::unique_ptr<FanInReader> reader = one.StreamBatches(r);
    v1::Batch b;
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(reader->Next(&b));
    token = reader->cursor();
    reader->Cancel();
    EXPECT_EQ(reader->Finish().code(), absl::StatusCode::kCancelled);
  }
  ASSERT_TRUE(absl::StartsWith(token, "ifc1.")) << token;
  ASSERT_OK_AND_ASSIGN(v1::Cursor cursor, DecodeCursor(token));
  v1::StreamBatchesRequest resumed = r;
  *resumed.mutable_resume() = cursor;
  ReadResult rest = ReadAll(others, resumed);
  ASSERT_OK(rest.status);
  ExpectSameStream(rest.batches, std::vector<v1::Batch>(whole.batches.begin() + 3, whole.batches.end()));
}

// Synchronous data-parallel steps: 4 ranks each take 2 batches, the job
// restarts with 3 ranks from rank 0's cursor, fanned in over 3 servers.
// Across the restart every sample of the epoch arrives exactly once.
TEST_F(FanInTest, ElasticResumeFromFourRanksToThreeCoversTheEpochOnce) {
  FanInClient client(servers_->addresses());
  std::vector<int64_t> ids;
  std::string token;
  for (uint32_t rank = 0; rank < 4; ++rank) {
    v1::StreamBatchesRequest r = Request(2, 8);
    r.set_world_size(4);
    r.set_rank(rank);
    std::unique_ptr<FanInReader> reader = client.StreamBatches(r);
    v1::Batch b;
    for (int i = 0; i < 2; ++i) {
      ASSERT_TRUE(reader->Next(&b)) << reader->Finish();
      ids.insert(ids.end(), b.sample_ids().begin(), b.sample_ids().end());
    }
    if (rank == 0) token = reader->cursor();
    reader->Cancel();
  }
  ASSERT_EQ(ids.size(), 16u);
  ASSERT_OK_AND_ASSIGN(v1::Cursor cursor, DecodeCursor(token));
  for (uint32_t rank = 0; rank < 3; ++rank) {
    v1::StreamBatchesRequest r = Request(2, 8);
    r.set_world_size(3);
    r.set_rank(rank);
    *r.mutable_resume() = cursor;
    ReadResult rest = ReadAll(client, r);
    ASSERT_OK(rest.status);
    for (const v1::Batch& b : rest.batches) ids.insert(ids.end(), b.sample_ids().begin(), b.sample_ids().end());
  }
  std::sort(ids.begin(), ids.end());
  std::vector<int64_t> all(39);
  for (int64_t i = 0; i < 39; ++i) all[static_cast<size_t>(i)] = i;
  EXPECT_EQ(ids, all);
}

TEST_F(FanInTest, ServersOfDifferentDatasetVersionsAreRefused) {
  Servers other(1, Root("other"));
  const std::string a = servers_->addresses()[0], b = other.addresses()[0];
  FanInClient mixed({a, b});
  ReadResult r = ReadAll(mixed, Request(4, 8));
  EXPECT_TRUE(r.batches.empty());
  EXPECT_EQ(r.status.code(), absl::StatusCode::kFailedPrecondition) << r.status;
  EXPECT_THAT(std::string(r.status.message()), HasSubstr(a));
  EXPECT_THAT(std::string(r.status.message()), HasSubstr(b));
  EXPECT_THAT(std::string(r.status.message()), HasSubstr("fingerprints"));
}

// Big batches (8 x 3 x 128 x 128 float32, 1.5 MB) and 10 per server: a
// killed server cannot have sent its share ahead, so the failover happens.
v1::StreamBatchesRequest LargeRequest() { return Request(8, 128); }

TEST_F(FanInTest, SigkillOfOneOfThreeMidEpochKeepsTheOneServerSequence) {
  Servers reference(1, Root("large"));
  FanInClient one(reference.addresses());
  ReadResult want = ReadAll(one, LargeRequest());
  ASSERT_OK(want.status);
  ASSERT_EQ(want.batches.size(), 30u);

  Servers three(3, Root("large"));
  FanInClient client(three.addresses(), {}, Fast());
  ReadResult got = ReadAll(client, LargeRequest(), /*hook_at=*/2, [&] { three.procs[1]->Signal(SIGKILL); });
  ASSERT_OK(got.status);
  EXPECT_GE(got.failovers, 1);
  ExpectSameStream(got.batches, want.batches);
  ExpectExactlyOnce(got.batches, 240);
  std::cout << "[ measured ] SIGKILL failover: slowest batch after the kill " << got.slowest_next_after_hook
            << " s, failovers " << got.failovers << "\n";
}

TEST_F(FanInTest, AStoppedServerIsFailedOverByTheProgressDeadline) {
  Servers reference(1, Root("large"));
  FanInClient one(reference.addresses());
  ReadResult want = ReadAll(one, LargeRequest());
  ASSERT_OK(want.status);

  Servers three(3, Root("large"));
  FanInOptions o = Fast();
  o.progress_timeout = std::chrono::milliseconds(1000);
  FanInClient client(three.addresses(), {}, o);
  ReadResult got = ReadAll(client, LargeRequest(), /*hook_at=*/1, [&] { three.procs[2]->Signal(SIGSTOP); });
  ASSERT_OK(got.status);
  EXPECT_GE(got.failovers, 1);
  ExpectSameStream(got.batches, want.batches);
  std::cout << "[ measured ] SIGSTOP failover (progress_timeout 1 s): slowest batch after the stop "
            << got.slowest_next_after_hook << " s\n";
}

// The progress deadline far away (60 s): only the channel's keepalive
// (a ping every 5 s, unanswered after 1 s) can notice the stopped server.
TEST_F(FanInTest, AStoppedServerIsCaughtByKeepalive) {
  Servers reference(1, Root("large"));
  FanInClient one(reference.addresses());
  ReadResult want = ReadAll(one, LargeRequest());
  ASSERT_OK(want.status);

  Servers three(3, Root("large"));
  ClientOptions channel;
  channel.keepalive_time_ms = 5000;
  channel.keepalive_timeout_ms = 1000;
  FanInOptions o = Fast();
  o.progress_timeout = std::chrono::milliseconds(60000);
  FanInClient client(three.addresses(), channel, o);
  ReadResult got = ReadAll(client, LargeRequest(), /*hook_at=*/1, [&] { three.procs[2]->Signal(SIGSTOP); });
  ASSERT_OK(got.status);
  EXPECT_GE(got.failovers, 1);
  ExpectSameStream(got.batches, want.batches);
  EXPECT_LT(got.slowest_next_after_hook, 30);
  std::cout << "[ measured ] SIGSTOP caught by keepalive (5 s + 1 s): slowest batch after the stop "
            << got.slowest_next_after_hook << " s\n";
}

TEST_F(FanInTest, AllServersGoneFailsInBoundedTimeNamingEach) {
  Servers two(2, Root("large"));
  const std::vector<std::string> addresses = two.addresses();
  FanInClient client(addresses, {}, Fast());  // failover_timeout 3 s
  Clock::time_point killed;
  ReadResult got = ReadAll(client, LargeRequest(), /*hook_at=*/0, [&] {
    two.procs[0]->Signal(SIGKILL);
    two.procs[1]->Signal(SIGKILL);
    killed = Clock::now();
  });
  const double seconds = std::chrono::duration<double>(Clock::now() - killed).count();
  EXPECT_EQ(got.status.code(), absl::StatusCode::kUnavailable) << got.status;
  for (const std::string& a : addresses) EXPECT_THAT(std::string(got.status.message()), HasSubstr(a));
  EXPECT_THAT(std::string(got.status.message()), HasSubstr("failover_timeout"));
  EXPECT_LT(seconds, 15);  // failover_timeout 3 s plus one backoff; never a hang
  EXPECT_FALSE(got.cursor.empty());
  std::cout << "[ measured ] all servers killed: error after " << seconds << " s (failover_timeout 3 s)\n";
}

// Where the fake servers' DescribeStream handlers meet: a handler waits up
// to `wait` for the other one to be called too.
class MeetingPoint {
 public:
  bool Arrive(int callers, std::chrono::milliseconds wait) {
    MutexLock lock(&mu_);
    ++arrived_;
    cv_.SignalAll();
    const Clock::time_point end = Clock::now() + wait;
    while (arrived_ < callers && Clock::now() < end) cv_.WaitFor(&mu_, end - Clock::now());
    return arrived_ >= callers;
  }

 private:
  Mutex mu_;
  CondVar cv_;
  int arrived_ ABSL_GUARDED_BY(mu_) = 0;
};

// A server that answers DescribeStream UNAVAILABLE, saying whether the other
// fake was asked while it waited ("met") or not ("alone"); nothing else.
class MeetingService final : public v1::ImageFeed::Service {
 public:
  explicit MeetingService(MeetingPoint* point) : point_(point) {}
  grpc::Status DescribeStream(grpc::ServerContext*, const v1::StreamBatchesRequest*,
                              v1::StreamDescription*) override {
    const bool met = point_->Arrive(2, std::chrono::milliseconds(2000));
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, met ? "met the other server" : "alone");
  }

 private:
  MeetingPoint* point_;
};

// Two servers that do not answer for 2 s are both asked at once: a client
// that asked one after the other would find each alone (and wait 2 s per
// stopped server before failing over).
TEST(FanInDescribeTest, EveryServerIsDescribedAtOnce) {
  MeetingPoint point;
  MeetingService a(&point), b(&point);
  std::vector<std::unique_ptr<grpc::Server>> servers;
  std::vector<std::string> addresses;
  for (MeetingService* service : {&a, &b}) {
    int port = 0;
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(service);
    servers.push_back(builder.BuildAndStart());
    ASSERT_NE(servers.back(), nullptr);
    addresses.push_back(absl::StrCat("127.0.0.1:", port));
  }
  FanInOptions o = Fast();
  o.failover_timeout = std::chrono::milliseconds(500);
  o.describe_timeout = std::chrono::milliseconds(10000);
  FanInClient client(addresses, {}, o);
  const ReadResult got = ReadAll(client, Request(4, 8));
  EXPECT_EQ(got.status.code(), absl::StatusCode::kUnavailable) << got.status;
  EXPECT_TRUE(got.batches.empty());
  for (const std::string& address : addresses) {
    EXPECT_THAT(std::string(got.status.message()), HasSubstr(address + ": met the other server"));
  }
  EXPECT_THAT(std::string(got.status.message()), Not(HasSubstr("alone")));
  for (auto& server : servers) server->Shutdown();
}

TEST_F(FanInTest, AThousandCancelsLeaveThreadsAndMemoryFlat) {
  FanInClient client(servers_->addresses());
  const v1::StreamBatchesRequest r = Request(2, 8);
  auto cancel_once = [&] {
    std::unique_ptr<FanInReader> reader = client.StreamBatches(r);
    v1::Batch b;
    ASSERT_TRUE(reader->Next(&b));
    reader->Cancel();
    EXPECT_EQ(reader->Finish().code(), absl::StatusCode::kCancelled);
  };
  for (int i = 0; i < 20; ++i) cancel_once();  // channels connected, gRPC's pools warm
  const int threads_before = ThreadCount();
  const int64_t rss_before = RssKb();
  for (int i = 0; i < 1000; ++i) cancel_once();
  const int threads_after = ThreadCount();
  const int64_t rss_after = RssKb();
  std::cout << "[ measured ] 1000 cancels over 3 servers: threads " << threads_before << " -> " << threads_after
            << ", RSS " << rss_before << " -> " << rss_after << " kB\n";
  EXPECT_LE(threads_after, threads_before + 2);
  EXPECT_LT(rss_after, rss_before + 20 * 1024);
}

}  // namespace
}  // namespace imagefeed
