// imagefeed health: probes gRPC's standard health service (for container
// health checks and init containers).
#include <iostream>

#include "client/cli/cli_common.h"
#include "client/cli/commands.h"

namespace imagefeed {

int RunHealth(const Args& args) {
  ConnectionFlags conn;
  std::string service;
  FlagSet flags("imagefeed health",
                "Asks the server's grpc.health.v1 service; exit 0 if SERVING, 1 otherwise. With several servers "
                "(--server=a,b or dns:///NAME:PORT): one line per server, exit 0 if all serve.");
  conn.Register(&flags);
  flags.AddString("service", &service, "service name to ask about; empty = the whole server");
  if (int rc = ParseOrExit(flags, args); rc >= 0) return rc;
  auto connected = conn.ConnectAll();
  if (!connected.ok()) return UsageError(connected.status());
  // Several servers (a list or a DNS name): one line each; exit 0 only if all serve.
  const bool several = connected->size() > 1;
  bool all = true;
  for (const auto& client : *connected) {
    auto serving = client->CheckHealth(service);
    if (!serving.ok()) return Fail(serving.status());
    if (several) std::cout << client->target() << ": ";
    std::cout << (*serving ? "SERVING" : "NOT_SERVING") << "\n";
    all = all && *serving;
  }
  return all ? 0 : kExitError;
}

}  // namespace imagefeed
