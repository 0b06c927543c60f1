#ifndef IMAGEFEED_CLIENT_CLI_STATS_FORMAT_H_
#define IMAGEFEED_CLIENT_CLI_STATS_FORMAT_H_

#include <string>

#include "imagefeed/v1/imagefeed.pb.h"

namespace imagefeed {

// What `imagefeed stats` does with one GetStats answer.
enum class StatsAction {
  kPrint,          // READY: print the statistics
  kPoll,           // FITTING and --wait: show progress, ask again in 0.5 s
  kPrintProgress,  // FITTING and --wait=false: print the progress, exit 3
  kFail,           // FAILED, or no state: report the error
};
StatsAction NextStatsAction(const v1::DatasetStats& stats, bool wait);

// The `stats --json` object: {"count","mean","std","min","max"}, per channel.
std::string StatsJson(const v1::DatasetStats& stats);

// A human-readable table: a header line, then one line per channel.
std::string StatsTable(const v1::DatasetStats& stats);

// "keras.layers.Normalization(mean=[...], variance=[...])" (variance = std^2),
// ready to paste.
std::string KerasNormalization(const v1::DatasetStats& stats);

// "transforms.Normalize(mean=[...], std=[...])", ready to paste.
std::string TorchvisionNormalize(const v1::DatasetStats& stats);

// Fitting progress, e.g. "fitting statistics of demo: 120/300 images (40%)".
std::string StatsProgress(const v1::DatasetStats& stats);

// The `stats --json --wait=false` object while fitting:
// {"state":"fitting","samples_fitted","samples_total"}.
std::string StatsProgressJson(const v1::DatasetStats& stats);

}  // namespace imagefeed

#endif  // IMAGEFEED_CLIENT_CLI_STATS_FORMAT_H_
