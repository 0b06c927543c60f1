#include "client/cli/stats_format.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/json_writer.h"

namespace imagefeed {
namespace {

// A Python list literal; 8 significant digits keep float32 accuracy.
std::string PyList(const std::vector<double>& values) {
  return absl::StrCat(
      "[",
      absl::StrJoin(values, ", ", [](std::string* out, double v) { absl::StrAppend(out, absl::StrFormat("%.8g", v)); }),
      "]");
}

std::vector<double> Values(const google::protobuf::RepeatedField<double>& field) {
  return {field.begin(), field.end()};
}

}  // namespace

StatsAction NextStatsAction(const v1::DatasetStats& stats, bool wait) {
  switch (stats.state()) {
    case v1::DatasetStats::STATE_READY:
      return StatsAction::kPrint;
    case v1::DatasetStats::STATE_FITTING:
      return wait ? StatsAction::kPoll : StatsAction::kPrintProgress;
    default:
      return StatsAction::kFail;
  }
}

std::string StatsJson(const v1::DatasetStats& stats) {
  JsonWriter j;
  j.BeginObject();
  j.Key("count");
  j.Int(stats.count());
  j.DoubleArray("mean", Values(stats.mean()));
  j.DoubleArray("std", Values(stats.std()));
  j.DoubleArray("min", Values(stats.min()));
  j.DoubleArray("max", Values(stats.max()));
  j.EndObject();
  return j.str();
}

std::string StatsTable(const v1::DatasetStats& stats) {
  std::string out = absl::StrCat(stats.dataset(), ": ", stats.samples_fitted(), " images");
  if (stats.files_failed() > 0) absl::StrAppend(&out, " (", stats.files_failed(), " failed to decode, left out)");
  absl::StrAppend(&out, ", ", stats.count(), " pixels per channel");
  if (!stats.color_mode().empty()) absl::StrAppend(&out, ", ", stats.color_mode());
  absl::StrAppend(&out,
                  stats.from_cache() ? ", from cache" : absl::StrFormat(", fitted in %.2f s", stats.fit_seconds()),
                  "\nvalues in [0, 1]\n");
  absl::StrAppend(&out, absl::StrFormat("%-8s %10s %10s %10s %10s\n", "channel", "mean", "std", "min", "max"));
  for (int c = 0; c < stats.mean_size(); ++c) {
    auto at = [&](const google::protobuf::RepeatedField<double>& f) { return c < f.size() ? f.Get(c) : 0.0; };
    absl::StrAppend(&out, absl::StrFormat("%-8d %10.6f %10.6f %10.6f %10.6f\n", c, at(stats.mean()), at(stats.std()),
                                          at(stats.min()), at(stats.max())));
  }
  return out;
}

std::string KerasNormalization(const v1::DatasetStats& stats) {
  std::vector<double> variance;
  for (double s : stats.std()) variance.push_back(s * s);
  return absl::StrCat("keras.layers.Normalization(mean=", PyList(Values(stats.mean())), ", variance=", PyList(variance),
                      ")");
}

std::string TorchvisionNormalize(const v1::DatasetStats& stats) {
  return absl::StrCat("transforms.Normalize(mean=", PyList(Values(stats.mean())), ", std=", PyList(Values(stats.std())),
                      ")");
}

std::string StatsProgress(const v1::DatasetStats& stats) {
  std::string out = absl::StrCat("fitting statistics of ", stats.dataset(), ": ", stats.samples_fitted(), "/",
                                 stats.samples_total(), " images");
  if (stats.samples_total() > 0) {
    absl::StrAppend(&out, " (", stats.samples_fitted() * 100 / stats.samples_total(), "%)");
  }
  return out;
}

std::string StatsProgressJson(const v1::DatasetStats& stats) {
  JsonWriter j;
  j.BeginObject();
  j.Key("state");
  j.String("fitting");
  j.Key("samples_fitted");
  j.Int(stats.samples_fitted());
  j.Key("samples_total");
  j.Int(stats.samples_total());
  j.EndObject();
  return j.str();
}

}  // namespace imagefeed
