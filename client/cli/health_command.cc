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
                "Asks the server's grpc.health.v1 service; exit 0 if SERVING, 1 otherwise.");
  conn.Register(&flags);
  flags.AddString("service", &service, "service name to ask about; empty = the whole server");
  if (int rc = ParseOrExit(flags, args); rc >= 0) return rc;
  auto connected = conn.Connect();
  if (!connected.ok()) return UsageError(connected.status());
  auto serving = (*connected)->CheckHealth(service);
  if (!serving.ok()) return Fail(serving.status());
  std::cout << (*serving ? "SERVING" : "NOT_SERVING") << "\n";
  return *serving ? 0 : kExitError;
}

}  // namespace imagefeed
