#include "server/service/token_auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/file_util.h"

namespace imagefeed {
namespace {

// SHA-256 of `data`; INTERNAL if OpenSSL fails (out of memory, a FIPS
// provider refusing): the caller must then refuse, never compare.
absl::StatusOr<std::string> Sha256(absl::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &size, EVP_sha256(), nullptr) != 1 ||
      size != SHA256_DIGEST_LENGTH) {
    return absl::InternalError("cannot compute SHA-256");
  }
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
  absl::StatusOr<std::string> digest = Sha256(token);
  // An empty digest fails CompareDigests for every presented token.
  if (digest.ok()) auth.token_digest_ = *std::move(digest);
  return auth;
}

absl::Status TokenAuth::Check(const grpc::CallbackServerContext& context) const {
  if (!enabled_) return absl::OkStatus();
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) {
    return absl::UnauthenticatedError("missing 'authorization: Bearer <token>' metadata");
  }
  return CheckAuthorization(absl::string_view(it->second.data(), it->second.size()));
}

absl::Status TokenAuth::CheckAuthorization(absl::string_view value) const {
  if (!enabled_) return absl::OkStatus();
  if (value.empty()) return absl::UnauthenticatedError("missing 'authorization: Bearer <token>'");
  constexpr absl::string_view kBearer = "Bearer ";
  if (!absl::StartsWith(value, kBearer)) {
    return absl::UnauthenticatedError("the authorization must be 'Bearer <token>'");
  }
  const absl::string_view token = value.substr(kBearer.size());
  if (token.empty()) return absl::UnauthenticatedError("the authorization holds an empty token");
  absl::StatusOr<std::string> presented = Sha256(token);
  if (!presented.ok()) return absl::UnauthenticatedError("cannot check the token");
  return CompareDigests(*presented, token_digest_);
}

absl::Status TokenAuth::CompareDigests(absl::string_view presented, absl::string_view expected) {
  // Comparing only expected.size() bytes would accept anything against an
  // empty digest: lengths are checked first, and must be SHA-256's.
  if (presented.size() != SHA256_DIGEST_LENGTH || expected.size() != SHA256_DIGEST_LENGTH) {
    return absl::UnauthenticatedError("cannot check the token");
  }
  if (CRYPTO_memcmp(presented.data(), expected.data(), SHA256_DIGEST_LENGTH) != 0) {
    return absl::UnauthenticatedError("invalid token");
  }
  return absl::OkStatus();
}

}  // namespace imagefeed
