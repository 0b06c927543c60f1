#include "server/http/http_server.h"

#include <google/protobuf/util/json_util.h>
#include <httplib.h>
#include <sys/socket.h>

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "server/http/prometheus_text.h"
#include "server/http/status_page.h"

namespace imagefeed {
namespace {

// Enough for a status page, a Prometheus scrape and a curl at once: each
// keep-alive connection holds a thread until it idles out.
constexpr int kThreads = 4;
constexpr int kKeepAliveSeconds = 2;

struct HostPort {
  std::string host;
  int port = 0;
};

absl::StatusOr<HostPort> ParseListen(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  HostPort hp;
  if (colon != std::string::npos) hp.host = listen.substr(0, colon);
  // "[::1]:8080": httplib wants the bare address.
  if (hp.host.size() >= 2 && hp.host.front() == '[' && hp.host.back() == ']') {
    hp.host = hp.host.substr(1, hp.host.size() - 2);
  }
  if (colon == std::string::npos || hp.host.empty() || !absl::SimpleAtoi(listen.substr(colon + 1), &hp.port) ||
      hp.port < 0 || hp.port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("--http_listen: '", listen,
                                                   "' is not HOST:PORT with PORT in 0..65535 (e.g. 0.0.0.0:9090)"));
  }
  return hp;
}

void NoStore(httplib::Response& res) { res.set_header("Cache-Control", "no-store"); }

void ServeStatus(const HttpSources& sources, const httplib::Request&, httplib::Response& res, bool json) {
  NoStore(res);
  if (!sources.status) {
    res.status = 503;
    res.set_content("no status source\n", "text/plain; charset=utf-8");
    return;
  }
  const v1::ServerStatus status = sources.status();
  if (!json) {
    res.set_content(RenderPrometheus(status), "text/plain; version=0.0.4; charset=utf-8");
    return;
  }
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;  // a zero is a value the page draws, not a missing one
  std::string text;
  if (!google::protobuf::util::MessageToJsonString(status, &text, options).ok()) {
    res.status = 500;
    res.set_content("cannot convert the status to JSON\n", "text/plain; charset=utf-8");
    return;
  }
  res.set_content(text, "application/json");
}

void ServeContactSheet(const HttpSources& sources, httplib::Response& res) {
  NoStore(res);
  std::optional<std::string> png;
  if (sources.contact_sheet_png) png = sources.contact_sheet_png();
  if (!png) {
    res.status = 404;
    res.set_content("no batch streamed yet: start a stream, then reload\n", "text/plain; charset=utf-8");
    return;
  }
  res.set_content(*std::move(png), "image/png");
}

// Requests that need the token: everything that carries data.
bool NeedsToken(const std::string& path) { return path != "/" && path != "/healthz"; }

}  // namespace

HttpServer::HttpServer(std::unique_ptr<httplib::Server> server, int port) : server_(std::move(server)), port_(port) {
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  // httplib's stop() does nothing until the listening loop has started: wait
  // for it (microseconds) so that the destructor cannot miss it.
  while (!server_->is_running()) std::this_thread::yield();
}

HttpServer::~HttpServer() {
  server_->stop();
  thread_.join();
}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(const std::string& listen, HttpSources sources,
                                                              TokenCheck check_token) {
  absl::StatusOr<HostPort> hp = ParseListen(listen);
  if (!hp.ok()) return hp.status();
  auto server = std::make_unique<httplib::Server>();
  server->new_task_queue = [] { return new httplib::ThreadPool(kThreads); };
  server->set_keep_alive_timeout(kKeepAliveSeconds);
  // httplib's default sets SO_REUSEPORT: a second server on the same port
  // would start and silently take half of the scrapes. SO_REUSEADDR alone
  // still lets a restarted server bind past connections in TIME_WAIT.
  server->set_socket_options([](int sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  if (check_token) {
    server->set_pre_routing_handler([check_token](const httplib::Request& req, httplib::Response& res) {
      if (!NeedsToken(req.path)) return httplib::Server::HandlerResponse::Unhandled;
      const absl::Status ok = check_token(req.get_header_value("Authorization"));
      if (ok.ok()) return httplib::Server::HandlerResponse::Unhandled;
      res.status = 401;
      res.set_header("WWW-Authenticate", "Bearer");
      res.set_content(absl::StrCat(ok.message(), ": send 'Authorization: Bearer <token>' (the token of --auth_token_file)\n"),
                      "text/plain; charset=utf-8");
      return httplib::Server::HandlerResponse::Handled;
    });
  }
  auto shared = std::make_shared<const HttpSources>(std::move(sources));
  server->Get("/metrics", [shared](const httplib::Request& req, httplib::Response& res) {
    ServeStatus(*shared, req, res, /*json=*/false);
  });
  server->Get("/api/status", [shared](const httplib::Request& req, httplib::Response& res) {
    ServeStatus(*shared, req, res, /*json=*/true);
  });
  server->Get("/contact_sheet.png",
              [shared](const httplib::Request&, httplib::Response& res) { ServeContactSheet(*shared, res); });
  server->Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain; charset=utf-8");
  });
  server->Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(StatusPageHtml(), "text/html; charset=utf-8");
  });

  int port = hp->port;
  const bool bound = port == 0 ? (port = server->bind_to_any_port(hp->host)) > 0 : server->bind_to_port(hp->host, port);
  if (!bound) {
    return absl::UnavailableError(absl::StrCat("--http_listen: cannot listen on ", listen,
                                               ": address in use or not local; pick another port or host"));
  }
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(server), port));
}

}  // namespace imagefeed
