#ifndef IMAGEFEED_SERVER_HTTP_PROMETHEUS_TEXT_H_
#define IMAGEFEED_SERVER_HTTP_PROMETHEUS_TEXT_H_

#include <string>

#include "absl/strings/string_view.h"
#include "imagefeed/v1/imagefeed.pb.h"

namespace imagefeed {

// Renders `status` in the Prometheus text exposition format 0.0.4: each
// family with its # HELP and # TYPE lines, counters ending in _total,
// per-sample stage latency as histograms (_bucket{le}, _sum, _count), base
// units (seconds, bytes). Families and their meaning are listed in the
// README ("Metrics"). Pure; the same status renders the same text.
std::string RenderPrometheus(const v1::ServerStatus& status);

// A sample value as Prometheus writes it: the shortest decimal that reads
// back as `v`, "+Inf", "-Inf" or "NaN".
std::string PrometheusNumber(double v);

// `v` with backslash, double quote and newline escaped for a label value.
std::string EscapeLabelValue(absl::string_view v);

}  // namespace imagefeed

#endif  // IMAGEFEED_SERVER_HTTP_PROMETHEUS_TEXT_H_
