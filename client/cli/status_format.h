#ifndef IMAGEFEED_CLIENT_CLI_STATUS_FORMAT_H_
#define IMAGEFEED_CLIENT_CLI_STATUS_FORMAT_H_

#include <string>

#include "common/json_writer.h"
#include "imagefeed/v1/imagefeed.pb.h"

namespace imagefeed {

// `after - before`, field by field (the stage work done between two
// GetServerStatus answers).
v1::StageTotals StageDifference(const v1::StageTotals& before, const v1::StageTotals& after);

// `a` + `b`, field by field (the stages of several servers of a fan-in).
v1::StageTotals StageSum(const v1::StageTotals& a, const v1::StageTotals& b);

// One line per stage: "  decode   1.234 s  61.7%" (percent of the four
// per-sample stages' time), then the client wait, the batches/bytes sent
// and skipped samples by reason.
std::string StageBreakdown(const v1::StageTotals& stages);

// Writes `stages` as a JSON object: samples, read_seconds, decode_seconds,
// resize_seconds, write_seconds, wait_client_seconds, batches_sent,
// bytes_sent, samples_skipped, skipped_by_reason {reason: count}.
void WriteStagesJson(const v1::StageTotals& stages, JsonWriter* j);

// The `imagefeed status` screen: a header (version, uptime, threads, memory
// against the budgets, RSS, queue depth, streams), the stage totals, the
// stream table and the statistics fitting of each dataset.
std::string StatusScreen(const v1::ServerStatus& status);

// 1536 -> "1.5 KiB", 3 << 30 -> "3.0 GiB".
std::string FormatBytes(int64_t bytes);

}  // namespace imagefeed

#endif  // IMAGEFEED_CLIENT_CLI_STATUS_FORMAT_H_
