#include "server/http/prometheus_text.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace imagefeed {
namespace {

using Labels = std::vector<std::pair<absl::string_view, std::string>>;

// Appends families to one text. Thread-compatible.
class Exposition {
 public:
  // Starts a family: its HELP and TYPE lines. `type` is counter, gauge or histogram.
  void Family(absl::string_view name, absl::string_view type, absl::string_view help) {
    absl::StrAppend(&text_, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n");
  }
  void Sample(absl::string_view name, const Labels& labels, double value) {
    Line(name, labels, PrometheusNumber(value));
  }
  void Sample(absl::string_view name, const Labels& labels, int64_t value) {
    Line(name, labels, absl::StrCat(value));
  }
  // A family of one unlabelled sample.
  template <typename T>
  void Single(absl::string_view name, absl::string_view type, absl::string_view help, T value) {
    Family(name, type, help);
    Sample(name, {}, value);
  }
  std::string Take() { return std::move(text_); }

 private:
  void Line(absl::string_view name, const Labels& labels, const std::string& value) {
    absl::StrAppend(&text_, name);
    for (size_t i = 0; i < labels.size(); ++i) {
      absl::StrAppend(&text_, i == 0 ? "{" : ",", labels[i].first, "=\"", EscapeLabelValue(labels[i].second), "\"");
    }
    absl::StrAppend(&text_, labels.empty() ? "" : "}", " ", value, "\n");
  }

  std::string text_;
};

void RenderServer(const v1::ServerStatus& s, Exposition* out) {
  out->Family("imagefeed_build_info", "gauge", "Always 1; the server's version as a label.");
  out->Sample("imagefeed_build_info", {{"version", s.version()}}, int64_t{1});
  out->Single("imagefeed_uptime_seconds", "gauge", "Seconds since the server started.", s.uptime_seconds());
  out->Single("imagefeed_worker_threads", "gauge", "Decode/transform worker threads.", int64_t{s.threads()});
  out->Single("imagefeed_memory_budget_bytes", "gauge", "Memory for batch outputs and decode scratch (--memory_budget).",
              s.memory_budget());
  out->Family("imagefeed_memory_bytes", "gauge",
              "Accounted memory by pool (batches: batch outputs; scratch: decode buffers) and kind (in_use, capacity).");
  out->Sample("imagefeed_memory_bytes", {{"pool", "batches"}, {"kind", "in_use"}}, s.batch_memory_in_use());
  out->Sample("imagefeed_memory_bytes", {{"pool", "batches"}, {"kind", "capacity"}}, s.batch_memory_capacity());
  out->Sample("imagefeed_memory_bytes", {{"pool", "scratch"}, {"kind", "in_use"}}, s.scratch_memory_in_use());
  out->Sample("imagefeed_memory_bytes", {{"pool", "scratch"}, {"kind", "capacity"}}, s.scratch_memory_capacity());
  out->Single("imagefeed_memory_peak_bytes", "gauge", "Highest accounted memory since start.", s.memory_peak());
  out->Single("imagefeed_resident_memory_bytes", "gauge", "Resident set size of the server process.", s.rss_bytes());
  out->Single("imagefeed_max_streams", "gauge", "Concurrent streams the server admits.", s.max_streams());
  out->Single("imagefeed_active_streams", "gauge", "Streams running now.", static_cast<int64_t>(s.streams_size()));
  out->Single("imagefeed_streams_total", "counter", "Streams admitted since start.", s.streams_total());
  out->Single("imagefeed_streams_refused_total", "counter",
              "Streams refused by admission (RESOURCE_EXHAUSTED) since start.", s.streams_refused());
  out->Single("imagefeed_queued_tasks", "gauge", "Samples waiting for a worker.", s.queued_tasks());
  out->Single("imagefeed_running_tasks", "gauge", "Samples being processed by a worker.", s.running_tasks());
}

void RenderTotals(const v1::StageTotals& t, Exposition* out) {
  out->Single("imagefeed_samples_total", "counter",
              "Samples that went through the stages (decoded), all streams since start.", t.samples());
  out->Family("imagefeed_stage_seconds_total", "counter",
              "Worker seconds spent per stage (read, decode, resize, write), all samples since start.");
  const std::pair<const char*, double> stages[] = {{"read", t.read_seconds()},
                                                   {"decode", t.decode_seconds()},
                                                   {"resize", t.resize_seconds()},
                                                   {"write", t.write_seconds()}};
  for (const auto& [stage, seconds] : stages) out->Sample("imagefeed_stage_seconds_total", {{"stage", stage}}, seconds);
  out->Single("imagefeed_wait_client_seconds_total", "counter",
              "Seconds streams had a batch ready while the client had not taken it (the client is the bottleneck).",
              t.wait_client_seconds());
  out->Single("imagefeed_batches_sent_total", "counter", "Batches sent, all streams since start.", t.batches_sent());
  out->Single("imagefeed_sent_bytes_total", "counter", "Tensor bytes sent, all streams since start.", t.bytes_sent());
  out->Family("imagefeed_samples_skipped_total", "counter", "Samples left out of batches (ON_ERROR_SKIP) by reason.");
  // Sorted: a map's iteration order is not stable across processes.
  std::vector<std::pair<std::string, int64_t>> reasons(t.skipped_by_reason().begin(), t.skipped_by_reason().end());
  std::sort(reasons.begin(), reasons.end());
  int64_t classified = 0;
  for (const auto& reason : reasons) classified += reason.second;
  if (t.samples_skipped() > classified) reasons.emplace_back("unclassified", t.samples_skipped() - classified);
  for (const auto& [reason, count] : reasons) out->Sample("imagefeed_samples_skipped_total", {{"reason", reason}}, count);
}

void RenderHistograms(const v1::ServerStatus& s, Exposition* out) {
  out->Family("imagefeed_sample_stage_seconds", "histogram", "Seconds one sample spent in a stage.");
  for (const v1::Histogram& h : s.stage_latency()) {
    // Cumulative counts, one more than the bounds (+Inf); anything else is skipped, never misread.
    if (h.counts_size() != h.upper_bounds_size() + 1) continue;
    for (int i = 0; i < h.counts_size(); ++i) {
      const std::string le = i < h.upper_bounds_size() ? PrometheusNumber(h.upper_bounds(i)) : "+Inf";
      out->Sample("imagefeed_sample_stage_seconds_bucket", {{"stage", h.name()}, {"le", le}}, h.counts(i));
    }
    out->Sample("imagefeed_sample_stage_seconds_sum", {{"stage", h.name()}}, h.sum());
    out->Sample("imagefeed_sample_stage_seconds_count", {{"stage", h.name()}}, h.count());
  }
}

void RenderDatasetStats(const v1::ServerStatus& s, Exposition* out) {
  out->Family("imagefeed_dataset_stats_state", "gauge",
              "1 for the state of a dataset's statistics fit (fitting, ready, failed), 0 for the others.");
  const std::pair<v1::DatasetStats::State, const char*> states[] = {{v1::DatasetStats::STATE_FITTING, "fitting"},
                                                                    {v1::DatasetStats::STATE_READY, "ready"},
                                                                    {v1::DatasetStats::STATE_FAILED, "failed"}};
  for (const v1::DatasetStats& d : s.stats()) {
    for (const auto& [state, name] : states) {
      out->Sample("imagefeed_dataset_stats_state", {{"dataset", d.dataset()}, {"state", name}},
                  int64_t{d.state() == state ? 1 : 0});
    }
  }
  out->Family("imagefeed_dataset_stats_fitted_samples", "gauge", "Images of a dataset fitted so far.");
  for (const v1::DatasetStats& d : s.stats()) {
    out->Sample("imagefeed_dataset_stats_fitted_samples", {{"dataset", d.dataset()}}, d.samples_fitted());
  }
  out->Family("imagefeed_dataset_stats_samples", "gauge", "Images of a dataset the statistics fit covers.");
  for (const v1::DatasetStats& d : s.stats()) {
    out->Sample("imagefeed_dataset_stats_samples", {{"dataset", d.dataset()}}, d.samples_total());
  }
}

}  // namespace

std::string PrometheusNumber(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  for (int precision = 1; precision < 17; ++precision) {
    std::string s = absl::StrFormat("%.*g", precision, v);
    if (std::strtod(s.c_str(), nullptr) == v) return s;
  }
  return absl::StrFormat("%.17g", v);
}

std::string EscapeLabelValue(absl::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string RenderPrometheus(const v1::ServerStatus& status) {
  Exposition out;
  RenderServer(status, &out);
  RenderTotals(status.totals(), &out);
  RenderHistograms(status, &out);
  RenderDatasetStats(status, &out);
  return out.Take();
}

}  // namespace imagefeed
