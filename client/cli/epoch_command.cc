// imagefeed epoch: streams a whole epoch of this rank's share and checks that
// every sample arrives exactly once.
#include <algorithm>
#include <iostream>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/batch_tensor.h"
#include "client/cli/cli_common.h"
#include "client/cli/commands.h"
#include "client/cli/exactly_once.h"
#include "client/cli/progress_bar.h"
#include "client/cli/stream_flags.h"
#include "client/cli/stream_runner.h"
#include "common/json_writer.h"

namespace imagefeed {
namespace {

constexpr int kSkippedShown = 10;

void OptionalInt(JsonWriter& j, const char* key, std::optional<int64_t> v) {
  j.Key(key);
  if (v) {
    j.Int(*v);
  } else {
    j.Null();
  }
}

std::string EpochJson(const DeliveryReport& r, const StreamTotals& t) {
  JsonWriter j;
  j.BeginObject();
  for (auto [key, value] :
       {std::pair{"samples", r.samples}, {"batches", r.batches}, {"unique", r.unique}, {"duplicates", r.duplicates}}) {
    j.Key(key);
    j.Int(value);
  }
  j.Key("seconds");
  j.Double(t.seconds);
  j.Key("samples_per_second");
  j.Double(t.samples_per_second());
  j.Key("skipped");
  j.Int(r.skipped);
  j.Key("mb_per_second");
  j.Double(t.mb_per_second());
  j.Key("time_to_first_batch_seconds");
  j.Double(t.time_to_first_batch_seconds);
  OptionalInt(j, "expected", r.expected);
  OptionalInt(j, "missing", r.missing);
  OptionalInt(j, "extra", r.extra);
  j.Key("out_of_range");
  j.Int(r.out_of_range);
  j.Key("position_errors");
  j.Int(r.position_errors);
  j.Key("ok");
  j.Bool(r.ok());
  j.Key("padded");
  j.Int(r.padded);
  j.Key("replaced");
  j.Int(r.replaced);
  j.Key("failovers");
  j.Int(t.failovers);
  j.Key("cursor");  // the last batch's token; null if nothing was delivered
  if (t.cursor.empty()) {
    j.Null();
  } else {
    j.String(t.cursor);
  }
  j.EndObject();
  return j.str();
}

// What went wrong, e.g. "2 duplicates, 5 missing"; empty if nothing.
std::string Problems(const DeliveryReport& r) {
  std::vector<std::string> p;
  if (r.duplicates > 0) p.push_back(absl::StrCat(r.duplicates, " duplicates"));
  if (r.missing.value_or(0) > 0) p.push_back(absl::StrCat(r.missing.value_or(0), " missing"));
  if (r.extra.value_or(0) > 0) p.push_back(absl::StrCat(r.extra.value_or(0), " more than this rank's share"));
  if (r.out_of_range > 0) p.push_back(absl::StrCat(r.out_of_range, " ids out of range"));
  if (r.position_errors > 0) p.push_back(absl::StrCat(r.position_errors, " batches out of position"));
  return absl::StrJoin(p, ", ");
}

void PrintText(const v1::StreamBatchesRequest& req, const DeliveryReport& r, const StreamTotals& t,
               const std::vector<v1::SkippedSample>& skipped) {
  std::cout << absl::StrFormat(
      "%s epoch %d rank %d/%d: %d samples in %d batches, %.2f s (%.1f samples/s, %.1f MB/s), first batch after "
      "%.3f s\n",
      req.dataset(), req.epoch(), req.rank(), std::max<uint32_t>(1, req.world_size()), r.samples, r.batches, t.seconds,
      t.samples_per_second(), t.mb_per_second(), t.time_to_first_batch_seconds);
  std::cout << absl::StrCat("exactly once: ", r.unique, " unique, ", r.duplicates, " duplicates, ", r.skipped,
                            " skipped, ",
                            r.expected ? absl::StrCat(*r.missing, " missing of ", *r.expected, " expected")
                                       : "expected count unknown, only duplicates checked",
                            r.ok() ? ": OK" : absl::StrCat(": FAILED (", Problems(r), ")"), "\n");
  for (const v1::SkippedSample& s : skipped) {
    std::cout << "  skipped " << s.sample_id() << " " << s.path() << ": " << s.reason() << "\n";
  }
  if (r.skipped > static_cast<int64_t>(skipped.size())) {
    std::cout << "  ... and " << r.skipped - static_cast<int64_t>(skipped.size()) << " more skipped\n";
  }
}

}  // namespace

int RunEpoch(const Args& args) {
  InterruptWatcher interrupts;  // first: it blocks SIGINT in the threads created later
  ConnectionFlags conn;
  bool json = false;
  StreamFlags stream;
  FlagSet flags("imagefeed epoch",
                "Streams a whole epoch of this rank's share and checks that every sample is delivered (or reported "
                "skipped) exactly once. Exit 4 if a sample is duplicated, missing or out of place.");
  conn.Register(&flags);
  flags.AddBool("json", &json,
                "print one JSON object: samples, batches, unique, duplicates, seconds, samples_per_second, skipped, "
                "mb_per_second, time_to_first_batch_seconds, expected, missing, extra, out_of_range, "
                "position_errors, ok, padded, replaced, failovers, cursor");
  stream.Register(&flags);
  v1::StreamBatchesRequest request;
  std::unique_ptr<FanInClient> fan_in;
  ImageFeedClient* first = nullptr;
  if (int rc = ParseStreamCommand(flags, args, conn, stream, &request, &fan_in, &first); rc >= 0) return rc;
  ImageFeedClient& client = *first;
  absl::StatusOr<v1::DatasetInfo> info = FindDataset(client, request.dataset());
  if (!info.ok()) return Fail(info.status());
  // The server says where the stream starts and how long the rank is
  // (resume cursors, even shards); older servers: computed here.
  std::optional<int64_t> expected = ExpectedPositions(request, info->num_samples());
  uint64_t first_position = request.start();
  if (absl::StatusOr<v1::StreamDescription> d = client.DescribeStream(request); d.ok()) {
    first_position = d->first_position();
    expected = ExpectedFromDescription(*d, request);
  } else if (d.status().code() != absl::StatusCode::kUnimplemented && d.status().code() != absl::StatusCode::kUnavailable) {
    return Fail(d.status());
  }
  ExactlyOnceChecker checker(info->num_samples(), first_position);
  std::vector<v1::SkippedSample> skipped;
  auto check = [&](const v1::Batch& batch) -> absl::Status {
    if (absl::StatusOr<BatchTensor> t = ViewBatch(batch); !t.ok()) return t.status();
    checker.Add(batch);
    for (const v1::SkippedSample& s : batch.skipped()) {
      if (skipped.size() < kSkippedShown) skipped.push_back(s);
    }
    return absl::OkStatus();
  };
  ProgressBar progress(stderr, StderrIsTerminal(), expected);
  std::string cursor;
  absl::StatusOr<StreamTotals> totals = RunStream(*fan_in, request, 0, check, &progress, &cursor, &interrupts);
  if (!totals.ok()) return FailStream(totals.status(), cursor, interrupts);
  const DeliveryReport report = checker.Report(expected);
  if (json) {
    std::cout << EpochJson(report, *totals) << "\n";
  } else {
    PrintText(request, report, *totals, skipped);
  }
  if (!report.ok()) {
    std::cerr << "imagefeed: epoch check failed: " << Problems(report) << "\n";
    return kExitCheckFailed;
  }
  return 0;
}

}  // namespace imagefeed
