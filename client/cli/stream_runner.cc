#include "client/cli/stream_runner.h"

#include <algorithm>
#include <chrono>
#include <iostream>

#include "client/cli/cli_common.h"
#include "client/cli/exactly_once.h"

namespace imagefeed {

InterruptWatcher::InterruptWatcher() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, &old_mask_);
  waiter_ = std::thread([this, set] {
    int sig = 0;
    sigwait(&set, &sig);
    MutexLock lock(&mu_);
    if (stopping_) return;
    interrupted_ = true;
    if (reader_ != nullptr) reader_->Cancel();
  });
}

InterruptWatcher::~InterruptWatcher() {
  bool wake = false;
  {
    MutexLock lock(&mu_);
    stopping_ = true;
    wake = !interrupted_;  // else the waiter has returned
  }
  if (wake) pthread_kill(waiter_.native_handle(), SIGINT);
  waiter_.join();
  pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
}

void InterruptWatcher::Watch(FanInReader* reader) {
  MutexLock lock(&mu_);
  reader_ = reader;
  if (interrupted_ && reader_ != nullptr) reader_->Cancel();
}

bool InterruptWatcher::interrupted() const {
  MutexLock lock(&mu_);
  return interrupted_;
}

absl::StatusOr<StreamTotals> RunStream(FanInClient& client, const v1::StreamBatchesRequest& request,
                                       int64_t max_batches, const BatchCallback& on_batch, ProgressBar* progress,
                                       std::string* last_cursor, InterruptWatcher* interrupts) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point start = Clock::now();
  auto since_start = [&] { return std::chrono::duration<double>(Clock::now() - start).count(); };
  auto finish_progress = [&] {
    if (progress != nullptr) progress->Finish();
  };
  std::unique_ptr<FanInReader> reader = client.StreamBatches(request);
  struct Unwatch {
    InterruptWatcher* w;
    ~Unwatch() {
      if (w != nullptr) w->Watch(nullptr);
    }
  } unwatch{interrupts};
  if (interrupts != nullptr) interrupts->Watch(reader.get());
  StreamTotals t;
  auto note_cursor = [&] {
    t.cursor = reader->cursor();
    t.failovers = reader->failovers();
    if (last_cursor != nullptr) *last_cursor = t.cursor;
  };
  v1::Batch batch;
  while ((max_batches <= 0 || t.batches < max_batches) && reader->Next(&batch)) {
    if (t.batches == 0) t.time_to_first_batch_seconds = since_start();
    ++t.batches;
    t.samples += batch.sample_ids_size();
    t.skipped += batch.skipped_size();
    t.bytes += static_cast<int64_t>(batch.data().size());
    note_cursor();
    if (absl::Status s = on_batch(batch); !s.ok()) {
      finish_progress();
      reader->Cancel();
      reader->Finish().IgnoreError();
      return s;
    }
    if (progress != nullptr) progress->Update(t.samples + t.skipped, t.bytes);
  }
  absl::Status status;
  if (max_batches > 0 && t.batches >= max_batches) {
    reader->Cancel();  // we have what we asked for
    reader->Finish().IgnoreError();
  } else {
    status = reader->Finish();
  }
  t.seconds = since_start();
  note_cursor();
  finish_progress();
  if (!status.ok()) return status;
  return t;
}

std::optional<int64_t> StreamProgressTotal(ImageFeedClient& client, const v1::StreamBatchesRequest& request,
                                           int64_t max_batches) {
  absl::StatusOr<v1::DatasetInfo> info = FindDataset(client, request.dataset());
  if (!info.ok()) return std::nullopt;
  std::optional<int64_t> total = ExpectedPositions(request, info->num_samples());
  if (total && max_batches > 0) total = std::min<int64_t>(*total, max_batches * request.batch_size());
  return total;
}

int FailStream(const absl::Status& status, const std::string& cursor, const InterruptWatcher& interrupts) {
  if (interrupts.interrupted()) {
    std::cerr << "imagefeed: interrupted" << (cursor.empty() ? "" : "; resume with --resume=" + cursor) << "\n";
    return kExitInterrupted;
  }
  if (!cursor.empty()) std::cerr << "imagefeed: resume with --resume=" << cursor << "\n";
  return Fail(status);
}

}  // namespace imagefeed
