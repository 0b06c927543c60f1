// imagefeed stats: prints the per-channel statistics the server fitted for a
// dataset, as a table, JSON or a ready-to-paste keras/torchvision layer.
#include <chrono>
#include <cstdio>
#include <iostream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "client/cli/cli_common.h"
#include "client/cli/commands.h"
#include "client/cli/progress_bar.h"
#include "client/cli/stats_format.h"

namespace imagefeed {
namespace {

constexpr auto kPollInterval = std::chrono::milliseconds(500);

void PrintStats(const v1::DatasetStats& stats, bool json, const std::string& format) {
  if (json) {
    std::cout << StatsJson(stats) << "\n";
  } else if (format == "keras") {
    std::cout << KerasNormalization(stats) << "\n";
  } else if (format == "torchvision") {
    std::cout << TorchvisionNormalize(stats) << "\n";
  } else {
    std::cout << StatsTable(stats);
  }
}

}  // namespace

int RunStats(const Args& args) {
  ConnectionFlags conn;
  std::string dataset;
  bool json = false;
  std::string format = "table";
  bool wait = true;
  FlagSet flags("imagefeed stats",
                "Prints the per-channel count, mean, std, min and max (values in [0, 1]) the server fitted over "
                "every pixel of a dataset. Exit 3 if --wait=false and the server is still fitting.");
  conn.Register(&flags);
  flags.AddString("dataset", &dataset, "dataset name (see 'imagefeed info')");
  flags.AddBool("json", &json, "print one JSON object: count, mean, std, min, max");
  flags.AddEnum("format", &format,
                "table, or a line to paste: keras.layers.Normalization(mean, variance) or "
                "transforms.Normalize(mean, std)",
                {"table", "keras", "torchvision"});
  flags.AddBool("wait", &wait,
                "while the server is fitting: poll every 0.5 s until it is done (true), or print the progress and "
                "exit 3 (false)");
  if (int rc = ParseOrExit(flags, args); rc >= 0) return rc;
  if (dataset.empty()) return UsageError(absl::InvalidArgumentError("--dataset is required (see 'imagefeed info')"));
  if (json && format != "table") {
    return UsageError(absl::InvalidArgumentError(absl::StrCat("--json and --format=", format, " exclude each other")));
  }

  auto connected = conn.Connect();
  if (!connected.ok()) return UsageError(connected.status());
  ImageFeedClient& client = **connected;
  const bool tty = StderrIsTerminal();
  auto clear_progress = [&] {
    if (tty) std::fputs("\r\x1b[K", stderr);
  };
  while (true) {
    absl::StatusOr<v1::DatasetStats> stats = client.GetStats(dataset);
    if (!stats.ok()) {
      clear_progress();
      return Fail(stats.status());
    }
    if (stats->dataset().empty()) stats->set_dataset(dataset);
    switch (NextStatsAction(*stats, wait)) {
      case StatsAction::kPrint:
        clear_progress();
        PrintStats(*stats, json, format);
        return 0;
      case StatsAction::kPrintProgress:
        std::cout << (json ? StatsProgressJson(*stats) : StatsProgress(*stats)) << "\n";
        return kExitStillFitting;
      case StatsAction::kPoll:
        if (tty) {
          std::fprintf(stderr, "\r%s\x1b[K", StatsProgress(*stats).c_str());
          std::fflush(stderr);
        }
        std::this_thread::sleep_for(kPollInterval);
        break;
      case StatsAction::kFail:
        clear_progress();
        if (stats->state() == v1::DatasetStats::STATE_FAILED) {
          return Fail(absl::FailedPreconditionError(
              absl::StrCat("fitting the statistics of '", dataset, "' failed: ", stats->error())));
        }
        return Fail(absl::UnknownError(absl::StrCat("the server answered GetStats for '", dataset,
                                                    "' without a state (", static_cast<int>(stats->state()), ")")));
    }
  }
}

}  // namespace imagefeed
