#ifndef IMAGEFEED_CLIENT_CLI_PROGRESS_BAR_H_
#define IMAGEFEED_CLIENT_CLI_PROGRESS_BAR_H_

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>

namespace imagefeed {

// What a progress line shows.
struct ProgressSnapshot {
  int64_t done = 0;              // samples (positions) so far
  std::optional<int64_t> total;  // expected samples, if known
  int64_t bytes = 0;             // tensor bytes so far
  double seconds = 0;            // since the start
  std::string unit = "samples";
};

// Renders one progress line of at most `width` columns (no newline), e.g.
//   "[#########...........]  45%  1350/3000 samples  812.3 samples/s  24.5 MB/s  ETA 0:02"
// Without a total the bar, percentage and ETA are left out.
std::string RenderProgress(const ProgressSnapshot& s, int width);

// Formats `seconds` as M:SS or H:MM:SS.
std::string FormatDuration(double seconds);

// True if stderr is a terminal: the only case in which progress is drawn,
// so scripts and tests never see it.
bool StderrIsTerminal();

// True if stdout is a terminal.
bool StdoutIsTerminal();

// A progress line redrawn in place on a terminal, at most every 100 ms.
// Disabled (every method a no-op) unless `enabled`. Thread-compatible.
class ProgressBar {
 public:
  // `total`: the expected number of samples, if known.
  ProgressBar(std::FILE* out, bool enabled, std::optional<int64_t> total, std::string unit = "samples");
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  bool enabled() const { return enabled_; }
  // Records progress; redraws if 100 ms passed or the line was cleared.
  void Update(int64_t done, int64_t bytes);
  // Erases the line (before other output to the same terminal); the next
  // Update draws it again.
  void Clear();
  // Erases the line for good; later calls do nothing.
  void Finish();

 private:
  using Clock = std::chrono::steady_clock;
  std::FILE* const out_;
  bool enabled_;
  const std::optional<int64_t> total_;
  const std::string unit_;
  const Clock::time_point start_;
  Clock::time_point last_draw_;
  bool drawn_ = false;
};

}  // namespace imagefeed

#endif  // IMAGEFEED_CLIENT_CLI_PROGRESS_BAR_H_
