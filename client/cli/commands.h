#ifndef IMAGEFEED_CLIENT_CLI_COMMANDS_H_
#define IMAGEFEED_CLIENT_CLI_COMMANDS_H_

// The sub-commands of the `imagefeed` CLI, one file each
// (info_command.cc, fetch_command.cc, ...). Each takes the arguments after
// the command name and returns the process exit code:
//   0 success, 1 an error (printed as CODE: message), 2 a usage error,
//   3 `stats --wait=false` while the server is still fitting,
//   4 `epoch` found duplicate, missing or misplaced samples.

#include <string>
#include <vector>

namespace imagefeed {

using Args = std::vector<std::string>;

int RunInfo(const Args& args);
int RunFetch(const Args& args);
int RunEpoch(const Args& args);
int RunDump(const Args& args);
int RunBench(const Args& args);
int RunStats(const Args& args);
int RunHealth(const Args& args);
int RunStatus(const Args& args);

// A command as `imagefeed --help` lists it.
struct Command {
  const char* name;
  const char* summary;  // one line
  int (*run)(const Args& args);
};

// Every command, in the order `imagefeed --help` lists them.
const std::vector<Command>& Commands();

}  // namespace imagefeed

#endif  // IMAGEFEED_CLIENT_CLI_COMMANDS_H_
