#include "client/cli/stream_runner.h"

#include <algorithm>
#include <chrono>

#include "client/cli/cli_common.h"
#include "client/cli/exactly_once.h"

namespace imagefeed {

absl::StatusOr<StreamTotals> RunStream(FanInClient& client, const v1::StreamBatchesRequest& request,
                                       int64_t max_batches, const BatchCallback& on_batch, ProgressBar* progress,
                                       std::string* last_cursor) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point start = Clock::now();
  auto since_start = [&] { return std::chrono::duration<double>(Clock::now() - start).count(); };
  auto finish_progress = [&] {
    if (progress != nullptr) progress->Finish();
  };
  std::unique_ptr<FanInReader> reader = client.StreamBatches(request);
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

}  // namespace imagefeed
