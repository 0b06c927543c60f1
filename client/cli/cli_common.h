#ifndef IMAGEFEED_CLIENT_CLI_CLI_COMMON_H_
#define IMAGEFEED_CLIENT_CLI_CLI_COMMON_H_

// Helpers shared by the CLI's commands: exit codes, error printing, flag
// parsing and dataset lookup.

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/cli/stream_flags.h"
#include "client/fan_in_reader.h"
#include "client/imagefeed_client.h"
#include "common/flags.h"

namespace imagefeed {

constexpr char kDefaultServer[] = "127.0.0.1:50051";

constexpr int kExitError = 1;
constexpr int kExitUsage = 2;
constexpr int kExitStillFitting = 3;
constexpr int kExitCheckFailed = 4;

// The flags every command uses to reach a server: --server, --token_file, --tls_ca.
// --server takes one address, a comma list "a:1,b:2,c:3" or a DNS name
// "dns:///NAME:PORT" standing for all its addresses (fan-in).
struct ConnectionFlags {
  std::string server = kDefaultServer;
  std::string token_file;
  std::string tls_ca;
  bool tls = false;

  void Register(FlagSet* flags);
  // A client for the first server --server names, with the token and TLS
  // settings; the error names the flag whose file cannot be read.
  absl::StatusOr<std::unique_ptr<ImageFeedClient>> Connect() const;
  // A client for every server --server names (dns: names resolved now).
  absl::StatusOr<std::vector<std::unique_ptr<ImageFeedClient>>> ConnectAll() const;
  // A fan-in client over every server --server names.
  absl::StatusOr<std::unique_ptr<FanInClient>> ConnectFanIn(const FanInOptions& fan_in) const;

 private:
  absl::StatusOr<ClientOptions> Options() const;
};

// The common start of every streaming command: parses `args` into `flags`
// (in which `conn` and `stream` are registered), builds the request and
// connects: `client` fans in over every server of --server, `first` is the
// first of them that answers (for unary calls). Returns -1 to continue, else the exit
// code to return.
int ParseStreamCommand(FlagSet& flags, const std::vector<std::string>& args, const ConnectionFlags& conn,
                       const StreamFlags& stream, v1::StreamBatchesRequest* request,
                       std::unique_ptr<FanInClient>* client, ImageFeedClient** first);

// Prints `s` to stderr as "imagefeed: CODE: message"; returns kExitError.
int Fail(const absl::Status& s);

// Prints a usage error (its message only) to stderr; returns kExitUsage.
int UsageError(const absl::Status& s);

// Parses `args` into `flags`. Returns -1 to continue, else the exit code
// (0 after printing --help, kExitUsage after a bad flag).
int ParseOrExit(FlagSet& flags, const std::vector<std::string>& args);

// The server's description of `name`; NOT_FOUND listing the served
// datasets if there is none.
absl::StatusOr<v1::DatasetInfo> FindDataset(ImageFeedClient& client, const std::string& name);

}  // namespace imagefeed

#endif  // IMAGEFEED_CLIENT_CLI_CLI_COMMON_H_
