#ifndef IMAGEFEED_SERVER_HTTP_HTTP_SERVER_H_
#define IMAGEFEED_SERVER_HTTP_HTTP_SERVER_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "imagefeed/v1/imagefeed.pb.h"

namespace httplib {
class Server;
}

namespace imagefeed {

// Where the HTTP server gets what it shows. Both are called on the HTTP
// server's threads, concurrently: they must be thread-safe.
struct HttpSources {
  // The server's status now (for /metrics, /api/status).
  std::function<v1::ServerStatus()> status;
  // A PNG contact sheet of a recent batch; nullopt if none was streamed
  // yet (/contact_sheet.png answers 404). May be empty (always 404).
  std::function<std::optional<std::string>()> contact_sheet_png;
};

// Checks the value of a request's Authorization header ("" if absent): OK
// to serve the request, else the reason it is refused. Empty = no token.
using TokenCheck = std::function<absl::Status(absl::string_view authorization)>;

// An embedded HTTP server (cpp-httplib) on its own threads:
//   /metrics             Prometheus text format (RenderPrometheus)
//   /api/status          the ServerStatus as JSON (protobuf's JSON mapping)
//   /contact_sheet.png   a recent batch as a contact sheet
//   /                    the status page (static; it polls the two above)
//   /healthz             "ok"
// With a token check, /metrics, /api/status and /contact_sheet.png answer
// 401 unless the check passes; / and /healthz hold no data and stay open.
// Thread-safe; the destructor stops listening and waits for the requests in
// flight.
class HttpServer {
 public:
  // Listens on `listen` ("HOST:PORT", port 0 picks a free port) and serves
  // until destroyed. INVALID_ARGUMENT if `listen` is not HOST:PORT;
  // UNAVAILABLE if the address cannot be bound (in use, not local).
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(const std::string& listen, HttpSources sources,
                                                           TokenCheck check_token);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The port it listens on (the chosen one if started with port 0).
  int port() const { return port_; }

 private:
  HttpServer(std::unique_ptr<httplib::Server> server, int port);

  // Constant after construction
  const std::unique_ptr<httplib::Server> server_;
  const int port_;
  std::thread thread_;  // runs listen_after_bind(); joined by the destructor
};

}  // namespace imagefeed

#endif  // IMAGEFEED_SERVER_HTTP_HTTP_SERVER_H_
