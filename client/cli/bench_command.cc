// imagefeed bench: measures a stream's throughput and time to first batch.
#include <iostream>
#include <optional>

#include "absl/strings/str_format.h"
#include "client/cli/cli_common.h"
#include "client/cli/commands.h"
#include "client/cli/progress_bar.h"
#include "client/cli/status_format.h"
#include "client/cli/stream_flags.h"
#include "client/cli/stream_runner.h"
#include "common/json_writer.h"

namespace imagefeed {
namespace {

std::string BenchJson(const StreamTotals& t, const std::optional<v1::StageTotals>& stages) {
  JsonWriter j;
  j.BeginObject();
  j.Key("samples");
  j.Int(t.samples);
  j.Key("batches");
  j.Int(t.batches);
  j.Key("seconds");
  j.Double(t.seconds);
  j.Key("samples_per_second");
  j.Double(t.samples_per_second());
  j.Key("mb_per_second");
  j.Double(t.mb_per_second());
  j.Key("time_to_first_batch_seconds");
  j.Double(t.time_to_first_batch_seconds);
  j.Key("stages");  // null from a server without GetServerStatus
  if (stages.has_value()) {
    WriteStagesJson(*stages, &j);
  } else {
    j.Null();
  }
  j.EndObject();
  return j.str();
}

}  // namespace

int RunBench(const Args& args) {
  ConnectionFlags conn;
  bool json = false;
  int64_t batches = 0;
  StreamFlags stream;
  FlagSet flags("imagefeed bench",
                "Streams batches without looking at them and reports throughput (samples/s, MB/s of tensor data) "
                "and the time to the first batch, both measured from the request; then the server's time per "
                "stage during the run (totals of all its streams: run it alone for a clean breakdown; with "
                "several servers, summed over them).");
  conn.Register(&flags);
  flags.AddInt("batches", &batches, "stop after this many batches; 0 = to the end of the epoch", 0);
  flags.AddBool("json", &json,
                "print one JSON object: samples, batches, seconds, samples_per_second, mb_per_second, "
                "time_to_first_batch_seconds, stages (the server's stage totals during the run, see "
                "'imagefeed status')");
  stream.Register(&flags);
  v1::StreamBatchesRequest request;
  std::unique_ptr<FanInClient> fan_in;
  ImageFeedClient* first = nullptr;
  if (int rc = ParseStreamCommand(flags, args, conn, stream, &request, &fan_in, &first); rc >= 0) return rc;
  ImageFeedClient& client = *first;
  const bool tty = StderrIsTerminal();
  ProgressBar progress(stderr, tty, tty ? StreamProgressTotal(client, request, batches) : std::nullopt);
  auto ignore = [](const v1::Batch&) { return absl::OkStatus(); };
  // The stage breakdown is the difference of the servers' totals around the
  // run (summed over the servers of a fan-in).
  absl::StatusOr<std::vector<std::string>> servers = fan_in->Resolve();
  if (!servers.ok()) return Fail(servers.status());
  std::vector<absl::StatusOr<v1::ServerStatus>> before;
  for (const std::string& s : *servers) before.push_back(fan_in->Server(s).GetServerStatus());
  absl::StatusOr<StreamTotals> t = RunStream(*fan_in, request, batches, ignore, &progress);
  if (!t.ok()) return Fail(t.status());
  std::optional<v1::StageTotals> stages;
  for (size_t i = 0; i < servers->size(); ++i) {
    if (!before[i].ok()) continue;  // a server without GetServerStatus (or down)
    absl::StatusOr<v1::ServerStatus> after = fan_in->Server((*servers)[i]).GetServerStatus();
    if (!after.ok()) continue;
    const v1::StageTotals d = StageDifference(before[i]->totals(), after->totals());
    stages = stages.has_value() ? StageSum(*stages, d) : d;
  }
  if (json) {
    std::cout << BenchJson(*t, stages) << "\n";
  } else {
    std::cout << absl::StrFormat(
        "%s: %d samples in %d batches, %.3f s: %.1f samples/s, %.1f MB/s, first batch after %.3f s\n",
        request.dataset(), t->samples, t->batches, t->seconds, t->samples_per_second(), t->mb_per_second(),
        t->time_to_first_batch_seconds);
    if (stages.has_value()) std::cout << StageBreakdown(*stages);
  }
  return 0;
}

}  // namespace imagefeed
