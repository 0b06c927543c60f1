// imagefeed: command-line client of imagefeed-server.
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "client/cli/commands.h"

namespace imagefeed {

const std::vector<Command>& Commands() {
  static const auto* const commands = new std::vector<Command>{
      {"info", "list the server's datasets", RunInfo},
      {"fetch", "stream batches and print one line (or JSON object) per batch", RunFetch},
      {"epoch", "stream a whole epoch and check every sample arrives exactly once", RunEpoch},
      {"dump", "write one batch as a labelled contact sheet PNG", RunDump},
      {"bench", "measure throughput (samples/s, MB/s) and time to first batch", RunBench},
      {"stats", "print the dataset's fitted per-channel statistics", RunStats},
      {"status", "show what the server is doing: streams, stage times, memory (--watch: like top)", RunStatus},
      {"health", "exit 0 if the server's gRPC health service answers SERVING", RunHealth},
  };
  return *commands;
}

namespace {

std::string Usage() {
  std::string out = "usage: imagefeed <command> [flags]\n\ncommands:\n";
  for (const Command& c : Commands()) out += absl::StrFormat("  %-6s  %s\n", c.name, c.summary);
  out += "\n'imagefeed <command> --help' lists a command's flags.\n";
  return out;
}

int Main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::cout << Usage();
    return args.empty() ? 2 : 0;
  }
  const std::string command = args[0];
  args.erase(args.begin());
  for (const Command& c : Commands()) {
    if (command == c.name) return c.run(args);
  }
  std::cerr << "imagefeed: unknown command '" << command << "'\n" << Usage();
  return 2;
}

}  // namespace
}  // namespace imagefeed

int main(int argc, char** argv) { return imagefeed::Main(argc, argv); }
