#ifndef IMAGEFEED_CLIENT_CLI_STREAM_RUNNER_H_
#define IMAGEFEED_CLIENT_CLI_STREAM_RUNNER_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <thread>

#include <signal.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/cli/progress_bar.h"
#include "client/fan_in_reader.h"
#include "client/imagefeed_client.h"
#include "common/mutex.h"

namespace imagefeed {

// Counts and timings of one stream, as the streaming commands report them.
struct StreamTotals {
  int64_t batches = 0;
  int64_t samples = 0;  // delivered
  int64_t skipped = 0;  // reported skipped (on_error=skip)
  int64_t bytes = 0;    // tensor bytes
  double seconds = 0;   // from the request to the end of the stream
  double time_to_first_batch_seconds = 0;
  std::string cursor;  // the last delivered batch's cursor token ("" if none)
  int failovers = 0;   // restarts after a server failed

  double samples_per_second() const { return seconds > 0 ? samples / seconds : 0; }
  double mb_per_second() const { return seconds > 0 ? bytes / 1e6 / seconds : 0; }
};

// Turns Ctrl-C (SIGINT) into a cancel of the running stream, so that an
// interrupted command can still print how to resume. Create it before any
// other thread starts: it blocks SIGINT in this thread and in the threads
// created after it, and one thread of its own waits for the signal.
// Thread-safe.
class InterruptWatcher {
 public:
  InterruptWatcher();
  ~InterruptWatcher();
  InterruptWatcher(const InterruptWatcher&) = delete;
  InterruptWatcher& operator=(const InterruptWatcher&) = delete;

  // The reader a SIGINT cancels (nullptr: none).
  void Watch(FanInReader* reader);
  bool interrupted() const;

 private:
  mutable Mutex mu_;
  FanInReader* reader_ ABSL_GUARDED_BY(mu_) = nullptr;
  bool interrupted_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  sigset_t old_mask_;
  std::thread waiter_;
};

// Exit code of a command stopped by SIGINT (128 + 2, as a shell reports it).
constexpr int kExitInterrupted = 130;

// Ends a command whose stream failed: says how to resume from `cursor` (the
// last delivered batch's token, if any) and returns kExitInterrupted after a
// SIGINT, else prints `status` and returns Fail's exit code.
int FailStream(const absl::Status& status, const std::string& cursor, const InterruptWatcher& interrupts);

// Called for each batch; a non-OK status cancels the stream and is returned.
using BatchCallback = std::function<absl::Status(const v1::Batch&)>;

// Streams `request` (fanned in over the client's servers, failing over when
// one fails) to the end of the epoch, or for `max_batches` batches if that
// is > 0 (then the call is cancelled). Updates `progress` (may be null)
// after each batch and finishes it before returning. Returns the stream's
// error (naming the server for UNAVAILABLE) or the first callback error;
// `last_cursor` (may be null) gets the last delivered batch's cursor token
// either way, so an interrupted run can say how to resume. A SIGINT seen by
// `interrupts` (may be null) ends the stream with CANCELLED.
absl::StatusOr<StreamTotals> RunStream(FanInClient& client, const v1::StreamBatchesRequest& request,
                                       int64_t max_batches, const BatchCallback& on_batch, ProgressBar* progress,
                                       std::string* last_cursor = nullptr, InterruptWatcher* interrupts = nullptr);

// The samples a progress bar of this stream counts towards: the rank's
// share (see ExpectedPositions), at most `max_batches` batches if > 0.
// nullopt if the server cannot say (the stream will report why).
std::optional<int64_t> StreamProgressTotal(ImageFeedClient& client, const v1::StreamBatchesRequest& request,
                                           int64_t max_batches);

}  // namespace imagefeed

#endif  // IMAGEFEED_CLIENT_CLI_STREAM_RUNNER_H_
