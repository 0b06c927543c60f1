// imagefeed fetch: streams batches and prints one line (or JSON object) per batch.
#include <iostream>
#include <optional>

#include "client/cli/batch_summary.h"
#include "client/cli/cli_common.h"
#include "client/cli/commands.h"
#include "client/cli/progress_bar.h"
#include "client/cli/stream_flags.h"
#include "client/cli/stream_runner.h"

namespace imagefeed {

int RunFetch(const Args& args) {
  InterruptWatcher interrupts;  // first: it blocks SIGINT in the threads created later
  ConnectionFlags conn;
  bool json = false;
  int64_t batches = 0;
  StreamFlags stream;
  FlagSet flags("imagefeed fetch", "Streams batches and prints one line (or JSON object) per batch.");
  conn.Register(&flags);
  flags.AddInt("batches", &batches, "stop after this many batches; 0 = to the end of the epoch", 0);
  flags.AddBool("json", &json,
                "one JSON object per batch: epoch, position, shape, dtype, labels, sample_ids, mean, std, min, max, "
                "skipped, cursor (pass it to --resume to continue after that batch)");
  stream.Register(&flags);
  v1::StreamBatchesRequest request;
  std::unique_ptr<FanInClient> fan_in;
  ImageFeedClient* first = nullptr;
  if (int rc = ParseStreamCommand(flags, args, conn, stream, &request, &fan_in, &first); rc >= 0) return rc;
  ImageFeedClient& client = *first;
  const bool tty = StderrIsTerminal();
  ProgressBar progress(stderr, tty, tty ? StreamProgressTotal(client, request, batches) : std::nullopt);
  const bool shared_terminal = StdoutIsTerminal();
  auto print = [&](const v1::Batch& batch) -> absl::Status {
    auto summary = SummarizeBatch(batch);
    if (!summary.ok()) return summary.status();
    if (shared_terminal) progress.Clear();
    std::cout << (json ? BatchJson(batch, *summary) : BatchLine(batch, *summary)) << std::endl;
    return absl::OkStatus();
  };
  std::string cursor;
  absl::StatusOr<StreamTotals> totals = RunStream(*fan_in, request, batches, print, &progress, &cursor, &interrupts);
  if (!totals.ok()) return FailStream(totals.status(), cursor, interrupts);
  if (!json && batches > 0 && totals->batches >= batches && !totals->cursor.empty()) {
    std::cout << "resume with --resume=" << totals->cursor << "\n";
  }
  return 0;
}

}  // namespace imagefeed
