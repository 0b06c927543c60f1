#include "server/http/http_server.h"

#include <httplib.h>

#include <string>

#include "common/test_support.h"
#include "server/http/preview_png.h"

namespace imagefeed {
namespace {

using testing::HasSubstr;

const char kPngSignature[] = "\x89PNG\r\n\x1a\n";

HttpSources FakeSources(bool with_sheet) {
  HttpSources sources;
  sources.status = [] {
    v1::ServerStatus s;
    s.set_version("test");
    s.mutable_totals()->set_samples(42);
    s.add_streams()->set_dataset("demo");
    return s;
  };
  if (with_sheet) sources.contact_sheet_png = [] { return std::optional<std::string>("\x89PNG fake"); };
  return sources;
}

std::unique_ptr<HttpServer> StartOrDie(HttpSources sources, TokenCheck check = nullptr) {
  auto server = HttpServer::Start("127.0.0.1:0", std::move(sources), std::move(check));
  EXPECT_OK(server.status());
  return server.ok() ? *std::move(server) : nullptr;
}

TEST(HttpServerTest, ServesMetricsStatusJsonPageAndHealth) {
  auto server = StartOrDie(FakeSources(/*with_sheet=*/false));
  ASSERT_NE(server, nullptr);
  ASSERT_GT(server->port(), 0);
  httplib::Client client("127.0.0.1", server->port());

  auto metrics = client.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);
  EXPECT_THAT(metrics->get_header_value("Content-Type"), HasSubstr("text/plain; version=0.0.4"));
  EXPECT_THAT(metrics->body, HasSubstr("\nimagefeed_samples_total 42\n"));
  EXPECT_THAT(metrics->body, HasSubstr("\nimagefeed_active_streams 1\n"));

  auto json = client.Get("/api/status");
  ASSERT_TRUE(json);
  EXPECT_EQ(json->status, 200);
  EXPECT_EQ(json->get_header_value("Content-Type"), "application/json");
  // protobuf's JSON mapping: lowerCamelCase names, int64 as strings, zeros printed too.
  EXPECT_THAT(json->body, HasSubstr("\"samples\":\"42\""));
  EXPECT_THAT(json->body, HasSubstr("\"dataset\":\"demo\""));
  EXPECT_THAT(json->body, HasSubstr("\"uptimeSeconds\":0"));

  auto page = client.Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_THAT(page->get_header_value("Content-Type"), HasSubstr("text/html"));
  EXPECT_THAT(page->body, HasSubstr("id=\"throughput-chart\""));
  EXPECT_THAT(page->body, HasSubstr("id=\"contact-sheet\""));
  EXPECT_THAT(page->body, HasSubstr("/api/status"));
  // Self-contained: nothing loaded from another origin.
  EXPECT_THAT(page->body, testing::Not(HasSubstr("http://")));
  EXPECT_THAT(page->body, testing::Not(HasSubstr("https://")));

  auto health = client.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);

  // No batch yet: 404 that says why.
  auto sheet = client.Get("/contact_sheet.png");
  ASSERT_TRUE(sheet);
  EXPECT_EQ(sheet->status, 404);
  EXPECT_THAT(sheet->body, HasSubstr("no batch streamed yet"));

  auto missing = client.Get("/nope");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
}

TEST(HttpServerTest, ServesTheContactSheetFromItsSource) {
  auto server = StartOrDie(FakeSources(/*with_sheet=*/true));
  ASSERT_NE(server, nullptr);
  httplib::Client client("127.0.0.1", server->port());
  auto sheet = client.Get("/contact_sheet.png");
  ASSERT_TRUE(sheet);
  EXPECT_EQ(sheet->status, 200);
  EXPECT_EQ(sheet->get_header_value("Content-Type"), "image/png");
  EXPECT_EQ(sheet->body, "\x89PNG fake");
}

TEST(HttpServerTest, TokenGuardsDataButNotThePageOrHealth) {
  TokenCheck check = [](absl::string_view authorization) {
    return authorization == "Bearer s3cret" ? absl::OkStatus() : absl::UnauthenticatedError("invalid token");
  };
  auto server = StartOrDie(FakeSources(/*with_sheet=*/true), check);
  ASSERT_NE(server, nullptr);
  httplib::Client client("127.0.0.1", server->port());
  for (const char* path : {"/metrics", "/api/status", "/contact_sheet.png"}) {
    auto refused = client.Get(path);
    ASSERT_TRUE(refused) << path;
    EXPECT_EQ(refused->status, 401) << path;
    EXPECT_EQ(refused->get_header_value("WWW-Authenticate"), "Bearer");
    EXPECT_THAT(refused->body, HasSubstr("Authorization: Bearer <token>"));
    EXPECT_THAT(refused->body, testing::Not(HasSubstr("imagefeed_samples_total")));

    auto wrong = client.Get(path, {{"Authorization", "Bearer guess"}});
    ASSERT_TRUE(wrong) << path;
    EXPECT_EQ(wrong->status, 401) << path;

    auto accepted = client.Get(path, {{"Authorization", "Bearer s3cret"}});
    ASSERT_TRUE(accepted) << path;
    EXPECT_EQ(accepted->status, 200) << path;
  }
  for (const char* path : {"/", "/healthz"}) {
    auto open = client.Get(path);
    ASSERT_TRUE(open) << path;
    EXPECT_EQ(open->status, 200) << path;
  }
}

TEST(HttpServerTest, RejectsBadListenAndBusyPort) {
  EXPECT_THAT(HttpServer::Start("nonsense", {}, nullptr).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, "--http_listen: 'nonsense' is not HOST:PORT"));
  EXPECT_THAT(HttpServer::Start("127.0.0.1:70000", {}, nullptr).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, "PORT in 0..65535"));
  auto first = StartOrDie(FakeSources(false));
  ASSERT_NE(first, nullptr);
  const std::string busy = "127.0.0.1:" + std::to_string(first->port());
  EXPECT_THAT(HttpServer::Start(busy, {}, nullptr).status(),
              StatusIs(absl::StatusCode::kUnavailable, "cannot listen on " + busy));
}

TEST(HttpServerTest, StopsPromptlyWhileAClientKeepsItsConnection) {
  auto server = StartOrDie(FakeSources(false));
  ASSERT_NE(server, nullptr);
  httplib::Client client("127.0.0.1", server->port());
  client.set_keep_alive(true);
  ASSERT_TRUE(client.Get("/healthz"));
  server.reset();  // must return (joins its threads) with the connection still open
  auto after = client.Get("/healthz");
  EXPECT_FALSE(after && after->status == 200);
}

TEST(ContactSheetPngTest, EncodesAUint8BatchAsPngAndRefusesBadShapes) {
  v1::Batch batch;
  for (int64_t d : {2, 3, 8, 8}) batch.add_shape(d);  // NCHW
  batch.set_dtype(v1::DTYPE_UINT8);
  batch.set_layout(v1::LAYOUT_NCHW);
  batch.add_labels(0);
  batch.add_labels(1);
  batch.add_sample_ids(10);
  batch.add_sample_ids(11);
  batch.set_data(std::string(2 * 3 * 8 * 8, '\x80'));
  absl::StatusOr<std::string> png = ContactSheetPng(batch, {"cat", "dog"});
  ASSERT_OK(png.status());
  EXPECT_EQ(png->substr(0, 8), std::string(kPngSignature, 8));

  batch.set_data("short");
  EXPECT_THAT(ContactSheetPng(batch, {}).status(), StatusIs(absl::StatusCode::kInvalidArgument, ""));
}

}  // namespace
}  // namespace imagefeed
