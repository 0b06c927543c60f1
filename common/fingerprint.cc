#include "common/fingerprint.h"

#include "absl/strings/str_cat.h"

namespace imagefeed {

Fingerprint::Fingerprint() : ctx_(EVP_MD_CTX_new(), EVP_MD_CTX_free) {
  EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr);
}

void Fingerprint::Add(absl::string_view part) {
  EVP_DigestUpdate(ctx_.get(), part.data(), part.size());
  EVP_DigestUpdate(ctx_.get(), "", 1);  // the NUL
}

std::string Fingerprint::Hex() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_DigestFinal_ex(ctx_.get(), digest, &size);
  std::string hex;
  for (unsigned int i = 0; i < size; ++i) absl::StrAppend(&hex, absl::Hex(digest[i], absl::kZeroPad2));
  return hex;
}

}  // namespace imagefeed
