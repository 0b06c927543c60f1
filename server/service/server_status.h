#ifndef IMAGEFEED_SERVER_SERVICE_SERVER_STATUS_H_
#define IMAGEFEED_SERVER_SERVICE_SERVER_STATUS_H_

#include <cstdint>
#include <string>

#include "imagefeed/v1/imagefeed.pb.h"
#include "server/runtime/metrics.h"

namespace imagefeed {

// Pieces of v1::ServerStatus built from the metrics module's snapshots.

// Every skip reason appears in skipped_by_reason (0 included), so a reader
// sees stable keys.
void FillStageTotals(const StageSnapshot& snapshot, v1::StageTotals* out);
void FillHistogram(const std::string& name, const LatencyHistogram::Snapshot& snapshot, v1::Histogram* out);

// Resident set size of this process from /proc/self/statm; 0 if unknown.
int64_t ReadRssBytes();

// A short human summary of a request: "batch 64, 224x224 float32 NCHW
// standardize, shuffle seed 1, epoch 3".
std::string RequestSummary(const v1::StreamBatchesRequest& request);

}  // namespace imagefeed

#endif  // IMAGEFEED_SERVER_SERVICE_SERVER_STATUS_H_
