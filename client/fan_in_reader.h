#ifndef IMAGEFEED_CLIENT_FAN_IN_READER_H_
#define IMAGEFEED_CLIENT_FAN_IN_READER_H_

// Fan-in over several servers with failover (issue #10): the same request
// goes to every live server with fan_in_count = N and fan_in_index = i, and
// batch k of the merged stream comes from server k mod N, so the merged
// stream is byte-identical to one server's. A server that fails mid-stream
// is dropped and the stream restarts on the survivors from the cursor of the
// last batch delivered; every sample arrives exactly once, in order.

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/imagefeed_client.h"
#include "client/target_resolver.h"
#include "common/mutex.h"

namespace imagefeed {

struct FanInOptions {
  // How long the servers may all stay unreachable (since the last delivered
  // batch) before the stream fails with UNAVAILABLE naming each of them
  // (one server: its own last error). 0: fail as soon as no server is left.
  std::chrono::milliseconds failover_timeout{60000};
  // A stream without a batch for this long counts as failed (a stopped
  // server that keepalive has not caught yet). Generous by default: a
  // stream's first batch may wait for statistics fitting.
  std::chrono::milliseconds progress_timeout{300000};
  // Deadline of the DescribeStream call made on each server before every
  // (re)start (at most progress_timeout): it decodes nothing, so a server
  // that does not answer in time is stopped or cut off, and must not hold up
  // the restart on the others for long.
  std::chrono::milliseconds describe_timeout{10000};
  // Backoff of a failed server before it is tried again: doubles from the
  // initial value up to the maximum.
  std::chrono::milliseconds initial_backoff{500};
  std::chrono::milliseconds max_backoff{8000};
  // Resolves dns: targets; empty = getaddrinfo.
  HostResolver resolver;
};

// True for the codes a failover retries elsewhere: the server or the
// connection failed, not the request.
bool IsFailoverError(const absl::Status& status);

class FanInClient;

// Reads one merged stream. Thread-compatible, except Cancel(), which any
// thread may call at any time. The destructor cancels and waits for the
// reader's watchdog thread, so nothing outlives the reader.
class FanInReader {
 public:
  ~FanInReader();
  FanInReader(const FanInReader&) = delete;
  FanInReader& operator=(const FanInReader&) = delete;

  // The next batch of the one-server order; false at the end of the stream
  // or on error (then see Finish()).
  bool Next(v1::Batch* batch);
  // OK at the end of the stream; else the error that ended it:
  // UNAVAILABLE naming every server and its last error when none is left
  // after failover_timeout, FAILED_PRECONDITION naming two servers whose
  // dataset fingerprints differ, CANCELLED after Cancel(), or the servers'
  // own error (INVALID_ARGUMENT, DATA_LOSS, ...).
  absl::Status Finish();
  // Cancels the streams; Next() returns false soon after.
  void Cancel();

  // The cursor token of the last delivered batch ("" before the first).
  const std::string& cursor() const { return cursor_token_; }
  // The stream as described by the servers at its start (batches summed
  // over the fan-in); empty if the servers predate DescribeStream.
  const v1::StreamDescription& description() const { return description_; }
  // The servers of the current fan-in, in fan_in_index order.
  std::vector<std::string> servers() const;
  // Restarts after a failure so far.
  int failovers() const { return failovers_; }

 private:
  friend class FanInClient;
  using Clock = std::chrono::steady_clock;

  FanInReader(FanInClient* client, const v1::StreamBatchesRequest& request);

  struct ServerHealth {
    absl::Status last_error;
    bool dead = false;
    Clock::time_point retry_at;
    std::chrono::milliseconds backoff{0};
  };
  struct Open {
    std::string address;
    std::unique_ptr<BatchReader> reader;
  };

  // Describes the stream on every candidate server and opens the streams;
  // retries with backoff until failover_timeout when none can be used.
  absl::Status Restart();
  // The request for the next (re)start: resumed after the last delivered batch.
  v1::StreamBatchesRequest NextRequest() const;
  // DescribeStream on each of `addresses`; drops and marks dead the ones that
  // fail with a failover error. Checks the fingerprints.
  absl::StatusOr<std::vector<std::string>> DescribeAll(const v1::StreamBatchesRequest& request,
                                                       std::vector<std::string> addresses, bool first_start);
  void MarkDead(const std::string& address, const absl::Status& error);
  // Cancels and finishes every open stream.
  void CloseStreams();
  // UNAVAILABLE naming every server and its last error.
  absl::Status AllFailed() const;
  void Watchdog();

  // Constant after construction.
  FanInClient* const client_;
  const v1::StreamBatchesRequest request_;

  // Owned by the reading thread.
  std::vector<Open> open_;  // the fan-in, in fan_in_index order
  uint64_t next_index_ = 0;  // merged batches delivered since the last (re)start
  std::optional<v1::Cursor> cursor_;
  std::string cursor_token_;
  std::string expected_fingerprint_, fingerprint_source_;
  v1::StreamDescription description_;
  std::map<std::string, ServerHealth> health_;
  std::optional<Clock::time_point> failover_deadline_;
  bool started_ = false;
  bool done_ = false;
  absl::Status final_;
  int failovers_ = 0;

  // Shared with the watchdog thread and Cancel().
  mutable Mutex mu_;
  CondVar cv_;
  std::vector<BatchReader*> cancellable_ ABSL_GUARDED_BY(mu_);
  std::optional<Clock::time_point> progress_deadline_ ABSL_GUARDED_BY(mu_);
  bool stalled_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread watchdog_;
};

// A set of servers read as one: every stream fans in over all of them.
// Thread-safe. Keeps one channel per server address for its lifetime.
class FanInClient {
 public:
  // `targets`: "HOST:PORT" addresses and dns: names (resolved at every
  // stream start and failover restart).
  explicit FanInClient(std::vector<std::string> targets, ClientOptions options = {}, FanInOptions fan_in = {});

  const std::vector<std::string>& targets() const { return targets_; }
  const FanInOptions& fan_in_options() const { return fan_in_; }

  // The servers the targets name now.
  absl::StatusOr<std::vector<std::string>> Resolve() const;
  // The client of one server address (created on first use).
  ImageFeedClient& Server(const std::string& address);
  // The client of the first server the targets name (for unary calls).
  absl::StatusOr<ImageFeedClient*> First();

  // Starts a merged stream of `request` (its fan_in fields are set per
  // server). Errors surface from Next()/Finish().
  std::unique_ptr<FanInReader> StreamBatches(const v1::StreamBatchesRequest& request);

 private:
  const std::vector<std::string> targets_;
  const ClientOptions options_;
  const FanInOptions fan_in_;

  Mutex mu_;
  std::map<std::string, std::unique_ptr<ImageFeedClient>> clients_ ABSL_GUARDED_BY(mu_);
};

}  // namespace imagefeed

#endif  // IMAGEFEED_CLIENT_FAN_IN_READER_H_
