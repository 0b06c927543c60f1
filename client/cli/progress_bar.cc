#include "client/cli/progress_bar.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace imagefeed {
namespace {

int TerminalWidth(std::FILE* out) {
  winsize ws{};
  if (ioctl(fileno(out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 80;
}

}  // namespace

std::string FormatDuration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const int64_t s = static_cast<int64_t>(std::llround(seconds));
  if (s >= 3600) return absl::StrFormat("%d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60);
  return absl::StrFormat("%d:%02d", s / 60, s % 60);
}

std::string RenderProgress(const ProgressSnapshot& s, int width) {
  const double rate = s.seconds > 0 ? s.done / s.seconds : 0;
  const double mb_rate = s.seconds > 0 ? s.bytes / 1e6 / s.seconds : 0;
  std::string count = s.total ? absl::StrCat(s.done, "/", *s.total, " ", s.unit) : absl::StrCat(s.done, " ", s.unit);
  std::string tail = absl::StrFormat("%s  %.1f %s/s  %.1f MB/s", count, rate, s.unit, mb_rate);
  std::string head;
  if (s.total && *s.total > 0) {
    const double fraction = std::clamp(static_cast<double>(s.done) / *s.total, 0.0, 1.0);
    const int64_t left = std::max<int64_t>(0, *s.total - s.done);
    absl::StrAppend(&tail, "  ETA ", rate > 0 ? FormatDuration(left / rate) : "?");
    const std::string percent = absl::StrFormat("%3d%%  ", static_cast<int>(fraction * 100));
    // A fixed-width bar (so it does not jitter as the numbers change), left
    // out when the terminal is too narrow for it.
    constexpr int kBarWidth = 20;
    if (width - static_cast<int>(tail.size() + percent.size()) - 3 >= kBarWidth) {
      const int filled = static_cast<int>(fraction * kBarWidth);
      head = absl::StrCat("[", std::string(filled, '#'), std::string(kBarWidth - filled, '.'), "] ");
    }
    head += percent;
  }
  std::string line = head + tail;
  if (static_cast<int>(line.size()) > width) line.resize(std::max(0, width));
  return line;
}

bool StderrIsTerminal() { return isatty(STDERR_FILENO) == 1; }

bool StdoutIsTerminal() { return isatty(STDOUT_FILENO) == 1; }

ProgressBar::ProgressBar(std::FILE* out, bool enabled, std::optional<int64_t> total, std::string unit)
    : out_(out), enabled_(enabled), total_(total), unit_(std::move(unit)), start_(Clock::now()) {}

ProgressBar::~ProgressBar() { Finish(); }

void ProgressBar::Update(int64_t done, int64_t bytes) {
  if (!enabled_) return;
  const Clock::time_point now = Clock::now();
  if (drawn_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  ProgressSnapshot s{done, total_, bytes, std::chrono::duration<double>(now - start_).count(), unit_};
  // One column short of the width, so the cursor never wraps to a new line.
  std::fprintf(out_, "\r%s\x1b[K", RenderProgress(s, TerminalWidth(out_) - 1).c_str());
  std::fflush(out_);
  last_draw_ = now;
  drawn_ = true;
}

void ProgressBar::Clear() {
  if (!enabled_ || !drawn_) return;
  std::fputs("\r\x1b[K", out_);
  std::fflush(out_);
  drawn_ = false;
}

void ProgressBar::Finish() {
  Clear();
  enabled_ = false;
}

}  // namespace imagefeed
