// imagefeed status: what the server is doing (streams, stage times, memory),
// once or redrawn in place like top.
#include <google/protobuf/util/json_util.h>

#include <chrono>
#include <iostream>
#include <thread>

#include "client/cli/cli_common.h"
#include "client/cli/commands.h"
#include "client/cli/progress_bar.h"
#include "client/cli/status_format.h"

namespace imagefeed {
namespace {

constexpr double kDefaultWatchSeconds = 2;

absl::StatusOr<std::string> StatusJson(const v1::ServerStatus& status) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string out;
  auto s = google::protobuf::util::MessageToJsonString(status, &out, options);
  if (!s.ok()) return absl::InternalError(absl::StrCat("cannot print ServerStatus as JSON: ", s.ToString()));
  return out;
}

}  // namespace

int RunStatus(const Args& args) {
  ConnectionFlags conn;
  bool json = false;
  double watch = 0;
  FlagSet flags("imagefeed status",
                "Shows what the server is doing: version, uptime, memory in use against the budgets, RSS, queue "
                "depth, time per stage (read, decode, resize, write, waiting for the client), every active stream "
                "(peer, dataset, rank, request, position, rate, batches ready) and statistics fitting.");
  conn.Register(&flags);
  flags.AddBool("json", &json, "print the ServerStatus message as JSON (proto field names)");
  flags.AddDouble("watch", &watch,
                  "ask again every SECONDS (bare --watch: 2); on a terminal the screen is redrawn in place; "
                  "0 = once");
  // --watch alone means the default interval (FlagSet wants a value for doubles).
  Args rewritten = args;
  for (std::string& a : rewritten) {
    if (a == "--watch") a = absl::StrCat("--watch=", kDefaultWatchSeconds);
  }
  if (int rc = ParseOrExit(flags, rewritten); rc >= 0) return rc;
  if (watch < 0) return UsageError(absl::InvalidArgumentError("--watch must be >= 0 seconds"));
  auto connected = conn.ConnectAll();
  if (!connected.ok()) return UsageError(connected.status());
  // Several servers (a list or a DNS name): each in turn, text under a
  // "== HOST:PORT ==" heading, JSON one object per line.
  const bool several = connected->size() > 1;
  const bool redraw = watch > 0 && StdoutIsTerminal() && !json;
  for (;;) {
    // Home, then clear to the end of the screen: no flicker between frames.
    if (redraw) std::cout << "\x1b[H\x1b[J";
    for (const auto& client : *connected) {
      absl::StatusOr<v1::ServerStatus> status = client->GetServerStatus();
      if (!status.ok()) return Fail(status.status());
      if (json) {
        absl::StatusOr<std::string> text = StatusJson(*status);
        if (!text.ok()) return Fail(text.status());
        std::cout << *text << "\n";
      } else {
        if (several) std::cout << "== " << client->target() << " ==\n";
        std::cout << StatusScreen(*status);
      }
    }
    if (!json && !redraw && watch > 0) std::cout << "\n";
    std::cout.flush();
    if (watch <= 0) return 0;
    std::this_thread::sleep_for(std::chrono::duration<double>(watch));
  }
}

}  // namespace imagefeed
