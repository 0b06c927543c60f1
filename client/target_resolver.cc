#include "client/target_resolver.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace imagefeed {

absl::StatusOr<std::vector<std::string>> ResolveHostSystem(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = getaddrinfo(host.c_str(), nullptr, &hints, &found); rc != 0) {
    return absl::UnavailableError(absl::StrCat("cannot resolve '", host, "': ", gai_strerror(rc)));
  }
  std::vector<std::string> out;
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    char text[INET6_ADDRSTRLEN] = {};
    const void* addr = nullptr;
    if (a->ai_family == AF_INET) {
      addr = &reinterpret_cast<const sockaddr_in*>(a->ai_addr)->sin_addr;
    } else if (a->ai_family == AF_INET6) {
      addr = &reinterpret_cast<const sockaddr_in6*>(a->ai_addr)->sin6_addr;
    } else {
      continue;
    }
    if (inet_ntop(a->ai_family, addr, text, sizeof(text)) != nullptr) out.emplace_back(text);
  }
  freeaddrinfo(found);
  if (out.empty()) return absl::UnavailableError(absl::StrCat("'", host, "' has no IPv4/IPv6 address"));
  return out;
}

bool IsDnsTarget(absl::string_view target) { return absl::StartsWith(target, "dns:"); }

namespace {

// "NAME:PORT" of a DNS target (without the scheme and authority).
absl::StatusOr<std::pair<std::string, std::string>> SplitDnsTarget(absl::string_view target) {
  absl::string_view rest = target.substr(4);
  if (absl::StartsWith(rest, "//")) {
    rest.remove_prefix(2);
    const size_t slash = rest.find('/');
    rest = slash == absl::string_view::npos ? absl::string_view() : rest.substr(slash + 1);
  }
  const size_t colon = rest.rfind(':');
  uint32_t port = 0;
  if (colon == absl::string_view::npos || colon == 0 || !absl::SimpleAtoi(rest.substr(colon + 1), &port) ||
      port == 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("server '", target, "': a DNS target is dns:///NAME:PORT (e.g. dns:///imagefeed.ns.svc:50051)"));
  }
  std::string host(rest.substr(0, colon));
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return std::make_pair(host, std::string(rest.substr(colon + 1)));
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ResolveTargets(const std::vector<std::string>& targets,
                                                        const HostResolver& resolve) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  auto add = [&](std::string t) {
    if (seen.insert(t).second) out.push_back(std::move(t));
  };
  for (const std::string& target : targets) {
    if (!IsDnsTarget(target)) {
      add(target);
      continue;
    }
    absl::StatusOr<std::pair<std::string, std::string>> parts = SplitDnsTarget(target);
    if (!parts.ok()) return parts.status();
    absl::StatusOr<std::vector<std::string>> addresses = resolve(parts->first);
    if (!addresses.ok()) {
      return absl::Status(addresses.status().code(),
                          absl::StrCat("server '", target, "': ", addresses.status().message()));
    }
    std::vector<std::string> sorted = *std::move(addresses);
    std::sort(sorted.begin(), sorted.end());
    for (const std::string& a : sorted) {
      add(absl::StrContains(a, ':') ? absl::StrCat("[", a, "]:", parts->second) : absl::StrCat(a, ":", parts->second));
    }
  }
  return out;
}

std::vector<std::string> SplitTargets(absl::string_view list) {
  return absl::StrSplit(list, ',', absl::SkipWhitespace());
}

}  // namespace imagefeed
