#include "server/service/token_auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/file_util.h"

namespace imagefeed {
namespace {

std::string Sha256(absl::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(data.data(), data.size(), digest, &size, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<const char*>(digest), size);
}

}  // namespace

absl::StatusOr<TokenAuth> TokenAuth::FromFile(const std::string& path) {
  std::vector<uint8_t> bytes;
  absl::Status s = ReadFileToBuffer(path, &bytes, 1 << 16);
  if (!s.ok()) return absl::Status(s.code(), absl::StrCat("--auth_token_file: ", s.message()));
  std::string token(bytes.begin(), bytes.end());
  absl::StripAsciiWhitespace(&token);
  if (token.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--auth_token_file: '", path, "' holds no token"));
  }
  return FromToken(token);
}

TokenAuth TokenAuth::FromToken(const std::string& token) {
  TokenAuth auth;
  auth.enabled_ = true;
  auth.token_digest_ = Sha256(token);
  return auth;
}

absl::Status TokenAuth::Check(const grpc::CallbackServerContext& context) const {
  if (!enabled_) return absl::OkStatus();
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) {
    return absl::UnauthenticatedError("missing 'authorization: Bearer <token>' metadata");
  }
  absl::string_view value(it->second.data(), it->second.size());
  constexpr absl::string_view kBearer = "Bearer ";
  if (!absl::StartsWith(value, kBearer)) {
    return absl::UnauthenticatedError("the authorization metadata must be 'Bearer <token>'");
  }
  const std::string presented = Sha256(value.substr(kBearer.size()));
  if (CRYPTO_memcmp(presented.data(), token_digest_.data(), token_digest_.size()) != 0) {
    return absl::UnauthenticatedError("invalid token");
  }
  return absl::OkStatus();
}

}  // namespace imagefeed
