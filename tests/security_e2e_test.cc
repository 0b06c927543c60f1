// End-to-end: bearer tokens and TLS, both refused and accepted.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/test_support.h"
#include "imagefeed/v1/imagefeed.grpc.pb.h"
#include "server/service/imagefeed_core.h"
#include "server/service/imagefeed_service.h"
#include "server/service/token_auth.h"
#include "tests/test_server.h"

namespace imagefeed {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class SecureServer {
 public:
  SecureServer(std::shared_ptr<const DatasetIndex> index, TokenAuth auth,
               std::shared_ptr<grpc::ServerCredentials> creds) {
    ServerLimits limits;
    limits.threads = 2;
    core_ = std::make_unique<ImageFeedCore>(std::vector<DatasetConfig>{{index, ColorMode::kRgb}}, limits);
    service_ = std::make_unique<ImageFeedService>(core_.get(), std::move(auth));
    grpc::EnableDefaultHealthCheckService(true);
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", creds, &port_);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
  }
  ~SecureServer() { server_->Shutdown(); }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }

 private:
  int port_ = 0;
  std::unique_ptr<ImageFeedCore> core_;
  std::unique_ptr<ImageFeedService> service_;
  std::unique_ptr<grpc::Server> server_;
};

class SecurityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteTestDataset(dir_.path() + "/data", 2, 3);
    index_ = *DatasetIndex::Build("toy", dir_.path() + "/data");
  }
  grpc::Status List(std::shared_ptr<grpc::Channel> channel, const std::string& token) {
    auto stub = v1::ImageFeed::NewStub(channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    if (!token.empty()) ctx.AddMetadata("authorization", "Bearer " + token);
    v1::ListDatasetsResponse response;
    return stub->ListDatasets(&ctx, {}, &response);
  }
  grpc::Status Stream(std::shared_ptr<grpc::Channel> channel, const std::string& token, int* batches) {
    auto stub = v1::ImageFeed::NewStub(channel);
    grpc::ClientContext ctx;
    if (!token.empty()) ctx.AddMetadata("authorization", "Bearer " + token);
    v1::StreamBatchesRequest r;
    r.set_dataset("toy");
    r.set_batch_size(2);
    auto reader = stub->StreamBatches(&ctx, r);
    v1::Batch b;
    *batches = 0;
    while (reader->Read(&b)) ++*batches;
    return reader->Finish();
  }
  ScopedTempDir dir_;
  std::shared_ptr<const DatasetIndex> index_;
};

TEST_F(SecurityTest, TokenIsRequiredExceptForHealth) {
  SecureServer server(index_, TokenAuth::FromToken("s3cret"), grpc::InsecureServerCredentials());
  auto channel = grpc::CreateChannel(server.address(), grpc::InsecureChannelCredentials());
  EXPECT_EQ(List(channel, "").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(List(channel, "wrong").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(List(channel, "s3cret").error_code(), grpc::StatusCode::OK);
  int batches = 0;
  EXPECT_EQ(Stream(channel, "", &batches).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(batches, 0);
  EXPECT_TRUE(Stream(channel, "s3cret", &batches).ok());
  EXPECT_EQ(batches, 3);
  auto stats = v1::ImageFeed::NewStub(channel);
  grpc::ClientContext ctx;
  v1::GetStatsRequest req;
  req.set_dataset("toy");
  v1::DatasetStats s;
  EXPECT_EQ(stats->GetStats(&ctx, req, &s).error_code(), grpc::StatusCode::UNAUTHENTICATED);

  // grpc.health.v1.Health/Check with an empty request answers SERVING (field 1 = 1) without a token.
  grpc::GenericStub generic(channel);
  grpc::ClientContext hctx;
  hctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::ByteBuffer request, response;
  grpc::Slice empty("");
  request = grpc::ByteBuffer(&empty, 1);
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  grpc::Status health;
  generic.UnaryCall(&hctx, "/grpc.health.v1.Health/Check", {}, &request, &response, [&](grpc::Status st) {
    std::lock_guard<std::mutex> l(mu);
    health = st;
    done = true;
    cv.notify_all();
  });
  std::unique_lock<std::mutex> l(mu);
  cv.wait(l, [&] { return done; });
  ASSERT_TRUE(health.ok()) << health.error_message();
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(response.Dump(&slices).ok());
  std::string bytes;
  for (auto& sl : slices) bytes.append(reinterpret_cast<const char*>(sl.begin()), sl.size());
  EXPECT_EQ(bytes, std::string("\x08\x01", 2));
}

TEST_F(SecurityTest, TokenFileIsReadAndTrimmed) {
  WriteTestFile(dir_.path() + "/token", "  abc123\n");
  ASSERT_OK_AND_ASSIGN(TokenAuth auth, TokenAuth::FromFile(dir_.path() + "/token"));
  EXPECT_TRUE(auth.enabled());
  WriteTestFile(dir_.path() + "/empty", "\n");
  EXPECT_THAT(TokenAuth::FromFile(dir_.path() + "/empty"), StatusIs(absl::StatusCode::kInvalidArgument, "no token"));
  EXPECT_THAT(TokenAuth::FromFile(dir_.path() + "/missing"), StatusIs(absl::StatusCode::kNotFound, "--auth_token_file"));
}

TEST_F(SecurityTest, TlsAcceptsTrustingClientsAndRefusesOthers) {
  const std::string d = dir_.path();
  auto make_cert = [&](const std::string& name) {
    std::string cmd = absl::StrCat("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost ",
                                   "-addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout ", d, "/", name,
                                   ".key -out ", d, "/", name, ".crt 2>/dev/null");
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  };
  make_cert("server");
  make_cert("other");
  grpc::SslServerCredentialsOptions opts;
  opts.pem_key_cert_pairs.push_back({ReadAll(d + "/server.key"), ReadAll(d + "/server.crt")});
  SecureServer server(index_, TokenAuth::FromToken("t"), grpc::SslServerCredentials(opts));

  grpc::SslCredentialsOptions trust;
  trust.pem_root_certs = ReadAll(d + "/server.crt");
  auto good = grpc::CreateChannel(server.address(), grpc::SslCredentials(trust));
  EXPECT_EQ(List(good, "t").error_code(), grpc::StatusCode::OK);
  EXPECT_EQ(List(good, "").error_code(), grpc::StatusCode::UNAUTHENTICATED);

  grpc::SslCredentialsOptions wrong;
  wrong.pem_root_certs = ReadAll(d + "/other.crt");
  EXPECT_EQ(List(grpc::CreateChannel(server.address(), grpc::SslCredentials(wrong)), "t").error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(List(grpc::CreateChannel(server.address(), grpc::InsecureChannelCredentials()), "t").error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

}  // namespace
}  // namespace imagefeed
