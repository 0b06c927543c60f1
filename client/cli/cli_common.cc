#include "client/cli/cli_common.h"

#include <iostream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/file_util.h"
#include "common/status_macros.h"

namespace imagefeed {

int Fail(const absl::Status& s) {
  std::cerr << "imagefeed: " << absl::StatusCodeToString(s.code()) << ": " << s.message() << "\n";
  return kExitError;
}

int UsageError(const absl::Status& s) {
  std::cerr << "imagefeed: " << s.message() << "\n";
  return kExitUsage;
}

int ParseOrExit(FlagSet& flags, const std::vector<std::string>& args) {
  absl::Status s = flags.Parse(args);
  if (flags.help_requested()) {
    std::cout << flags.Usage();
    return 0;
  }
  if (!s.ok()) return UsageError(s);
  return -1;
}

absl::StatusOr<v1::DatasetInfo> FindDataset(ImageFeedClient& client, const std::string& name) {
  absl::StatusOr<v1::ListDatasetsResponse> list = client.ListDatasets();
  if (!list.ok()) return list.status();
  std::vector<std::string> names;
  for (const v1::DatasetInfo& d : list->datasets()) {
    if (d.name() == name) return d;
    names.push_back(d.name());
  }
  return absl::NotFoundError(
      absl::StrCat("dataset '", name, "' is not served here (serving: ", absl::StrJoin(names, ", "), ")"));
}

void ConnectionFlags::Register(FlagSet* flags) {
  flags->AddString("server", &server,
                   "server address HOST:PORT; a comma list HOST:PORT,HOST:PORT,... or dns:///NAME:PORT (every "
                   "address of NAME) fans in over several servers");
  flags->AddString("token_file", &token_file, "file holding the server's auth token (sent as a bearer token)");
  flags->AddBool("tls", &tls, "connect with TLS, verifying the server against the system roots");
  flags->AddString("tls_ca", &tls_ca, "PEM file of the CA that signed the server's TLS certificate (implies --tls)");
}

absl::StatusOr<ClientOptions> ConnectionFlags::Options() const {
  ClientOptions options;
  auto read = [](const std::string& flag, const std::string& path, std::string* out) -> absl::Status {
    std::vector<uint8_t> bytes;
    absl::Status s = ReadFileToBuffer(path, &bytes, 1 << 20);
    if (!s.ok()) return absl::Status(s.code(), absl::StrCat("--", flag, ": ", s.message()));
    out->assign(bytes.begin(), bytes.end());
    return absl::OkStatus();
  };
  if (!token_file.empty()) {
    RETURN_IF_ERROR(read("token_file", token_file, &options.token));
    absl::StripAsciiWhitespace(&options.token);
  }
  if (!tls_ca.empty()) RETURN_IF_ERROR(read("tls_ca", tls_ca, &options.tls_ca_pem));
  options.tls = tls || !tls_ca.empty();
  if (SplitTargets(server).empty()) return absl::InvalidArgumentError("--server: no address given");
  return options;
}

absl::StatusOr<std::unique_ptr<ImageFeedClient>> ConnectionFlags::Connect() const {
  ASSIGN_OR_RETURN(ClientOptions options, Options());
  const std::vector<std::string> targets = SplitTargets(server);
  // One plain address stays as given (the channel resolves it, as always).
  if (targets.size() == 1 && !IsDnsTarget(targets[0])) return std::make_unique<ImageFeedClient>(targets[0], options);
  ASSIGN_OR_RETURN(std::vector<std::string> addresses, ResolveTargets(targets));
  return std::make_unique<ImageFeedClient>(addresses.front(), options);
}

absl::StatusOr<std::vector<std::unique_ptr<ImageFeedClient>>> ConnectionFlags::ConnectAll() const {
  ASSIGN_OR_RETURN(ClientOptions options, Options());
  ASSIGN_OR_RETURN(std::vector<std::string> addresses, ResolveTargets(SplitTargets(server)));
  std::vector<std::unique_ptr<ImageFeedClient>> clients;
  for (const std::string& a : addresses) clients.push_back(std::make_unique<ImageFeedClient>(a, options));
  return clients;
}

absl::StatusOr<std::unique_ptr<FanInClient>> ConnectionFlags::ConnectFanIn(const FanInOptions& fan_in) const {
  ASSIGN_OR_RETURN(ClientOptions options, Options());
  return std::make_unique<FanInClient>(SplitTargets(server), options, fan_in);
}

int ParseStreamCommand(FlagSet& flags, const std::vector<std::string>& args, const ConnectionFlags& conn,
                       const StreamFlags& stream, v1::StreamBatchesRequest* request,
                       std::unique_ptr<FanInClient>* client, ImageFeedClient** first) {
  if (int rc = ParseOrExit(flags, args); rc >= 0) return rc;
  absl::StatusOr<v1::StreamBatchesRequest> r = stream.ToRequest(flags);
  if (!r.ok()) return UsageError(r.status());
  *request = *std::move(r);
  FanInOptions fan_in = stream.ToFanInOptions();
  const std::vector<std::string> targets = SplitTargets(conn.server);
  // One address: a failed stream fails at once, as it always did, unless asked to wait for the server.
  if (!flags.IsSet("failover_timeout") && targets.size() == 1 && !IsDnsTarget(targets[0])) {
    fan_in.failover_timeout = std::chrono::milliseconds(0);
  }
  absl::StatusOr<std::unique_ptr<FanInClient>> connected = conn.ConnectFanIn(fan_in);
  if (!connected.ok()) return UsageError(connected.status());
  *client = *std::move(connected);
  absl::StatusOr<std::vector<std::string>> servers = (*client)->Resolve();
  if (!servers.ok()) return Fail(servers.status());
  if (servers->empty()) return UsageError(absl::InvalidArgumentError("--server: no address given"));
  *first = &(*client)->Server(servers->front());
  // Several servers: the unary calls (dataset lookup, progress total) go to
  // the first one that answers, so one server down does not stop the command.
  for (size_t i = 0; servers->size() > 1 && i < servers->size(); ++i) {
    ImageFeedClient& c = (*client)->Server((*servers)[i]);
    absl::StatusOr<v1::ListDatasetsResponse> list = c.ListDatasets();
    if (list.ok() || !IsFailoverError(list.status())) {
      *first = &c;
      break;
    }
  }
  return -1;
}

}  // namespace imagefeed
