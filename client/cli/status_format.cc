#include "client/cli/status_format.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/cli/progress_bar.h"

namespace imagefeed {
namespace {

struct StageField {
  const char* name;
  double (v1::StageTotals::*get)() const;
};
constexpr StageField kStages[] = {
    {"read", &v1::StageTotals::read_seconds},
    {"decode", &v1::StageTotals::decode_seconds},
    {"resize", &v1::StageTotals::resize_seconds},
    {"write", &v1::StageTotals::write_seconds},
};

double StageSeconds(const v1::StageTotals& s) {
  double total = 0;
  for (const StageField& f : kStages) total += (s.*f.get)();
  return total;
}

std::string Percent(int64_t part, int64_t whole) {
  if (whole <= 0) return "-";
  return absl::StrFormat("%.0f%%", 100.0 * static_cast<double>(part) / static_cast<double>(whole));
}

// Cuts `s` to `width` columns, keeping its end (a peer's port) or its start
// (a request summary's batch and size).
std::string Fit(const std::string& s, size_t width, bool keep_end = true) {
  if (s.size() <= width) return s;
  return keep_end ? "~" + s.substr(s.size() - (width - 1)) : s.substr(0, width - 1) + "~";
}

}  // namespace

v1::StageTotals StageDifference(const v1::StageTotals& before, const v1::StageTotals& after) {
  v1::StageTotals d;
  d.set_samples(after.samples() - before.samples());
  d.set_read_seconds(after.read_seconds() - before.read_seconds());
  d.set_decode_seconds(after.decode_seconds() - before.decode_seconds());
  d.set_resize_seconds(after.resize_seconds() - before.resize_seconds());
  d.set_write_seconds(after.write_seconds() - before.write_seconds());
  d.set_wait_client_seconds(after.wait_client_seconds() - before.wait_client_seconds());
  d.set_batches_sent(after.batches_sent() - before.batches_sent());
  d.set_bytes_sent(after.bytes_sent() - before.bytes_sent());
  d.set_samples_skipped(after.samples_skipped() - before.samples_skipped());
  for (const auto& [reason, n] : after.skipped_by_reason()) {
    auto it = before.skipped_by_reason().find(reason);
    (*d.mutable_skipped_by_reason())[reason] = n - (it == before.skipped_by_reason().end() ? 0 : it->second);
  }
  return d;
}

v1::StageTotals StageSum(const v1::StageTotals& a, const v1::StageTotals& b) {
  v1::StageTotals s;
  s.set_samples(a.samples() + b.samples());
  s.set_read_seconds(a.read_seconds() + b.read_seconds());
  s.set_decode_seconds(a.decode_seconds() + b.decode_seconds());
  s.set_resize_seconds(a.resize_seconds() + b.resize_seconds());
  s.set_write_seconds(a.write_seconds() + b.write_seconds());
  s.set_wait_client_seconds(a.wait_client_seconds() + b.wait_client_seconds());
  s.set_batches_sent(a.batches_sent() + b.batches_sent());
  s.set_bytes_sent(a.bytes_sent() + b.bytes_sent());
  s.set_samples_skipped(a.samples_skipped() + b.samples_skipped());
  *s.mutable_skipped_by_reason() = a.skipped_by_reason();
  for (const auto& [reason, n] : b.skipped_by_reason()) (*s.mutable_skipped_by_reason())[reason] += n;
  return s;
}

std::string StageBreakdown(const v1::StageTotals& s) {
  const double total = StageSeconds(s);
  std::string out = absl::StrFormat("server stages over %d samples (worker seconds):\n", s.samples());
  for (const StageField& f : kStages) {
    const double v = (s.*f.get)();
    absl::StrAppendFormat(&out, "  %-7s %9.3f s  %5.1f%%\n", f.name, v, total > 0 ? 100.0 * v / total : 0.0);
  }
  absl::StrAppendFormat(&out, "  waiting for the client %.3f s; sent %d batches, %s\n", s.wait_client_seconds(),
                        s.batches_sent(), FormatBytes(s.bytes_sent()));
  if (s.samples_skipped() > 0) {
    absl::StrAppendFormat(&out, "  skipped %d:", s.samples_skipped());
    const std::map<std::string, int64_t> sorted(s.skipped_by_reason().begin(), s.skipped_by_reason().end());
    for (const auto& [reason, n] : sorted) {
      if (n > 0) absl::StrAppendFormat(&out, " %s %d", reason, n);
    }
    out += "\n";
  }
  return out;
}

void WriteStagesJson(const v1::StageTotals& s, JsonWriter* j) {
  j->BeginObject();
  j->Key("samples");
  j->Int(s.samples());
  for (const StageField& f : kStages) {
    j->Key(absl::StrCat(f.name, "_seconds"));
    j->Double((s.*f.get)());
  }
  j->Key("wait_client_seconds");
  j->Double(s.wait_client_seconds());
  j->Key("batches_sent");
  j->Int(s.batches_sent());
  j->Key("bytes_sent");
  j->Int(s.bytes_sent());
  j->Key("samples_skipped");
  j->Int(s.samples_skipped());
  j->Key("skipped_by_reason");
  j->BeginObject();
  const std::map<std::string, int64_t> sorted(s.skipped_by_reason().begin(), s.skipped_by_reason().end());
  for (const auto& [reason, n] : sorted) {
    j->Key(reason);
    j->Int(n);
  }
  j->EndObject();
  j->EndObject();
}

std::string FormatBytes(int64_t bytes) {
  static const char* const kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (std::abs(v) >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  return u == 0 ? absl::StrCat(bytes, " B") : absl::StrFormat("%.1f %s", v, kUnits[u]);
}

std::string StatusScreen(const v1::ServerStatus& st) {
  std::string out = absl::StrFormat(
      "imagefeed-server %s  up %s  %d threads  queue %d waiting, %d running\n", st.version(),
      FormatDuration(st.uptime_seconds()), st.threads(), st.queued_tasks(), st.running_tasks());
  absl::StrAppendFormat(&out, "memory: batches %s / %s (%s)  scratch %s / %s (%s)  peak %s  RSS %s\n",
                        FormatBytes(st.batch_memory_in_use()), FormatBytes(st.batch_memory_capacity()),
                        Percent(st.batch_memory_in_use(), st.batch_memory_capacity()),
                        FormatBytes(st.scratch_memory_in_use()), FormatBytes(st.scratch_memory_capacity()),
                        Percent(st.scratch_memory_in_use(), st.scratch_memory_capacity()),
                        FormatBytes(st.memory_peak()), FormatBytes(st.rss_bytes()));
  absl::StrAppendFormat(&out, "streams: %d active / %d max, %d since start, %d refused\n\n", st.streams_size(),
                        st.max_streams(), st.streams_total(), st.streams_refused());
  out += StageBreakdown(st.totals());
  out += "\n";
  absl::StrAppendFormat(&out, "%4s  %-22s %-12s %-6s %-34s %-15s %9s %5s\n", "ID", "PEER", "DATASET", "RANK",
                        "REQUEST", "POSITION", "SAMPLES/S", "AHEAD");
  for (const v1::StreamStatus& s : st.streams()) {
    absl::StrAppendFormat(&out, "%4d  %-22s %-12s %-6s %-34s %-15s %9.1f %5d\n", s.id(), Fit(s.peer(), 22),
                          Fit(s.dataset(), 12), absl::StrCat(s.rank(), "/", s.world_size()), Fit(s.request(), 34, /*keep_end=*/false),
                          absl::StrCat(s.position(), "/", s.total()), s.samples_per_second(), s.batches_ready());
  }
  if (st.streams_size() == 0) out += "  (no active streams)\n";
  if (st.stats_size() > 0) out += "\nstatistics:\n";
  for (const v1::DatasetStats& d : st.stats()) {
    std::string state;
    switch (d.state()) {
      case v1::DatasetStats::STATE_FITTING:
        state = absl::StrFormat("fitting %d/%d images (%s)", d.samples_fitted(), d.samples_total(),
                                Percent(d.samples_fitted(), d.samples_total()));
        break;
      case v1::DatasetStats::STATE_READY:
        state = absl::StrCat("ready", d.from_cache() ? " (from cache)" : "");
        break;
      case v1::DatasetStats::STATE_FAILED:
        state = absl::StrCat("failed: ", d.error());
        break;
      default:
        state = "unknown";
    }
    absl::StrAppendFormat(&out, "  %-12s %s\n", d.dataset(), state);
  }
  return out;
}

}  // namespace imagefeed
