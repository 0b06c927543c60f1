#include "client/fan_in_reader.h"

#include <algorithm>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "client/cursor_token.h"

namespace imagefeed {
namespace {

std::string Seconds(std::chrono::milliseconds d) { return absl::StrFormat("%g s", d.count() / 1000.0); }

std::string Short(const std::string& fingerprint) { return fingerprint.substr(0, 12); }

}  // namespace

bool IsFailoverError(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kCancelled:  // the caller rules out its own cancellation first
      return true;
    default:
      return false;
  }
}

FanInReader::FanInReader(FanInClient* client, const v1::StreamBatchesRequest& request)
    : client_(client), request_(request), watchdog_([this] { Watchdog(); }) {}

FanInReader::~FanInReader() {
  Cancel();
  CloseStreams();
  {
    MutexLock lock(&mu_);
    stop_ = true;
    cv_.SignalAll();
  }
  watchdog_.join();
}

void FanInReader::Cancel() {
  MutexLock lock(&mu_);
  cancelled_ = true;
  for (BatchReader* r : cancellable_) r->Cancel();
  cv_.SignalAll();
}

std::vector<std::string> FanInReader::servers() const {
  std::vector<std::string> out;
  for (const Open& o : open_) out.push_back(o.address);
  return out;
}

// Cancels the streams of a server that stopped making progress; the reading
// thread sees its Next() fail and fails over.
void FanInReader::Watchdog() {
  MutexLock lock(&mu_);
  while (!stop_) {
    if (!progress_deadline_) {
      cv_.Wait(&mu_);
      continue;
    }
    const Clock::time_point now = Clock::now();
    if (now >= *progress_deadline_) {
      stalled_ = true;
      progress_deadline_.reset();
      for (BatchReader* r : cancellable_) r->Cancel();
      continue;
    }
    cv_.WaitFor(&mu_, *progress_deadline_ - now);
  }
}

void FanInReader::CloseStreams() {
  {
    MutexLock lock(&mu_);
    for (BatchReader* r : cancellable_) r->Cancel();
  }
  for (Open& o : open_) {
    if (o.reader == nullptr) continue;
    o.reader->Finish().IgnoreError();
    MutexLock lock(&mu_);
    cancellable_.erase(std::remove(cancellable_.begin(), cancellable_.end(), o.reader.get()), cancellable_.end());
    o.reader.reset();
  }
  open_.clear();
}

void FanInReader::MarkDead(const std::string& address, const absl::Status& error) {
  const FanInOptions& opt = client_->fan_in_options();
  ServerHealth& h = health_[address];
  h.dead = true;
  h.last_error = error;
  h.backoff = h.backoff.count() == 0 ? opt.initial_backoff : std::min(2 * h.backoff, opt.max_backoff);
  h.retry_at = Clock::now() + h.backoff;
}

absl::Status FanInReader::AllFailed() const {
  // One server: its own error, as a plain client reports it.
  if (health_.size() == 1 && !health_.begin()->second.last_error.ok()) return health_.begin()->second.last_error;
  std::string list;
  for (const auto& [address, h] : health_) {
    if (h.last_error.ok()) continue;
    absl::StrAppend(&list, list.empty() ? "" : "; ", address, ": ", h.last_error.message());
  }
  return absl::UnavailableError(absl::StrCat("no imagefeed server could continue the stream within failover_timeout=",
                                             Seconds(client_->fan_in_options().failover_timeout), " (", list, ")"));
}

v1::StreamBatchesRequest FanInReader::NextRequest() const {
  v1::StreamBatchesRequest r = request_;
  r.clear_fan_in_count();
  r.clear_fan_in_index();
  if (cursor_) {
    r.set_start(0);
    r.set_epoch(cursor_->epoch());
    *r.mutable_resume() = *cursor_;
  }
  return r;
}

absl::StatusOr<std::vector<std::string>> FanInReader::DescribeAll(const v1::StreamBatchesRequest& request,
                                                                  std::vector<std::string> addresses,
                                                                  bool first_start) {
  // Every server at once: k stopped servers cost one describe deadline, not k.
  const int64_t timeout_ms =
      std::min(client_->fan_in_options().describe_timeout, client_->fan_in_options().progress_timeout).count();
  std::vector<absl::StatusOr<v1::StreamDescription>> answers(addresses.size());
  {
    std::vector<std::thread> calls;
    for (size_t i = 1; i < addresses.size(); ++i) {
      ImageFeedClient* server = &client_->Server(addresses[i]);
      calls.emplace_back([&answers, &request, server, i, timeout_ms] {
        answers[i] = server->DescribeStream(request, timeout_ms);
      });
    }
    if (!addresses.empty()) answers[0] = client_->Server(addresses[0]).DescribeStream(request, timeout_ms);
    for (std::thread& t : calls) t.join();
  }
  std::vector<std::string> live;
  std::vector<v1::StreamDescription> descriptions;
  for (size_t i = 0; i < addresses.size(); ++i) {
    const std::string& address = addresses[i];
    absl::StatusOr<v1::StreamDescription>& d = answers[i];
    if (!d.ok() && d.status().code() == absl::StatusCode::kUnimplemented) d = v1::StreamDescription();
    if (!d.ok()) {
      if (IsFailoverError(d.status())) {
        MarkDead(address, d.status());
        continue;
      }
      if (addresses.size() == 1 && client_->targets().size() == 1) return d.status();
      return absl::Status(d.status().code(), absl::StrCat("server ", address, ": ", d.status().message()));
    }
    live.push_back(address);
    descriptions.push_back(*std::move(d));
  }
  for (size_t i = 0; i < live.size(); ++i) {
    const std::string& fp = descriptions[i].dataset_fingerprint();
    if (fp.empty()) continue;
    if (expected_fingerprint_.empty()) {
      expected_fingerprint_ = fp;
      fingerprint_source_ = live[i];
    } else if (fp != expected_fingerprint_) {
      return absl::FailedPreconditionError(absl::StrCat(
          "servers ", fingerprint_source_, " and ", live[i], " serve different versions of dataset '",
          request.dataset(), "' (fingerprints ", Short(expected_fingerprint_), " and ", Short(fp),
          "); point every server at the same copy of the data"));
    }
  }
  if (first_start && !live.empty()) description_ = descriptions[0];
  return live;
}

absl::Status FanInReader::Restart() {
  const FanInOptions& opt = client_->fan_in_options();
  for (;;) {
    {
      MutexLock lock(&mu_);
      if (cancelled_) return absl::CancelledError("the stream was cancelled by the client");
    }
    const Clock::time_point now = Clock::now();
    absl::StatusOr<std::vector<std::string>> resolved = client_->Resolve();
    std::vector<std::string> candidates;
    if (!resolved.ok()) {
      if (!started_ || !IsFailoverError(resolved.status())) return resolved.status();
      ServerHealth& h = health_[absl::StrJoin(client_->targets(), ",")];
      h.last_error = resolved.status();
    } else {
      for (const std::string& address : *resolved) {
        const ServerHealth& h = health_[address];
        if (!h.dead || now >= h.retry_at) candidates.push_back(address);
      }
    }
    if (!candidates.empty()) {
      const v1::StreamBatchesRequest r = NextRequest();
      absl::StatusOr<std::vector<std::string>> live = DescribeAll(r, candidates, !started_);
      if (!live.ok()) return live.status();
      if (!live->empty()) {
        const uint32_t n = static_cast<uint32_t>(live->size());
        for (uint32_t i = 0; i < n; ++i) {
          v1::StreamBatchesRequest fan = r;
          if (n > 1) {
            fan.set_fan_in_count(n);
            fan.set_fan_in_index(i);
          }
          std::unique_ptr<BatchReader> reader = client_->Server((*live)[i]).StreamBatches(fan);
          MutexLock lock(&mu_);
          cancellable_.push_back(reader.get());
          if (cancelled_) reader->Cancel();
          open_.push_back({(*live)[i], std::move(reader)});
        }
        next_index_ = 0;
        started_ = true;
        return absl::OkStatus();
      }
      // Nobody reachable at the very start: fail now, as a single client
      // always did, instead of waiting out failover_timeout.
      if (!started_) {
        if (candidates.size() == 1) return health_[candidates[0]].last_error;
        return AllFailed();
      }
    }
    if (!failover_deadline_) failover_deadline_ = now + opt.failover_timeout;
    if (Clock::now() >= *failover_deadline_) return AllFailed();
    Clock::time_point wake = *failover_deadline_;
    for (const auto& [address, h] : health_) {
      if (h.dead) wake = std::min(wake, h.retry_at);
    }
    MutexLock lock(&mu_);
    while (!cancelled_ && Clock::now() < wake) cv_.WaitFor(&mu_, wake - Clock::now());
  }
}

bool FanInReader::Next(v1::Batch* batch) {
  if (done_) return false;
  const FanInOptions& opt = client_->fan_in_options();
  auto end = [&](absl::Status s) {
    done_ = true;
    final_ = std::move(s);
    CloseStreams();
    return false;
  };
  for (;;) {
    if (open_.empty()) {
      if (absl::Status s = Restart(); !s.ok()) return end(s);
    }
    Open& o = open_[next_index_ % open_.size()];
    {
      MutexLock lock(&mu_);
      progress_deadline_ = Clock::now() + opt.progress_timeout;
      cv_.SignalAll();
    }
    const bool got = o.reader->Next(batch);
    bool stalled = false, cancelled = false;
    {
      MutexLock lock(&mu_);
      progress_deadline_.reset();
      cancelled = cancelled_;
      if (!got) std::swap(stalled, stalled_);
    }
    if (got) {
      const std::string& fp = batch->dataset_fingerprint();
      if (!fp.empty() && !expected_fingerprint_.empty() && fp != expected_fingerprint_) {
        return end(absl::FailedPreconditionError(
            absl::StrCat("server ", o.address, " sent a batch of another version of dataset '", request_.dataset(),
                         "' (fingerprint ", Short(fp), ") than ", fingerprint_source_, " (", Short(expected_fingerprint_),
                         "); point every server at the same copy of the data")));
      }
      if (!fp.empty() && expected_fingerprint_.empty()) {
        expected_fingerprint_ = fp;
        fingerprint_source_ = o.address;
      }
      ++next_index_;
      if (batch->has_cursor()) {
        cursor_ = batch->cursor();
        cursor_token_ = EncodeCursor(*cursor_);
      }
      failover_deadline_.reset();
      ServerHealth& h = health_[o.address];
      h.dead = false;
      h.backoff = std::chrono::milliseconds(0);
      return true;
    }
    absl::Status status = o.reader->Finish();
    {
      MutexLock lock(&mu_);
      cancellable_.erase(std::remove(cancellable_.begin(), cancellable_.end(), o.reader.get()), cancellable_.end());
    }
    o.reader.reset();
    if (cancelled) return end(absl::CancelledError("the stream was cancelled by the client"));
    if (stalled) {
      status = absl::DeadlineExceededError(
          absl::StrCat("no batch from ", o.address, " within progress_timeout=", Seconds(opt.progress_timeout)));
    }
    // The first stream to end ends the merge: batch k is missing, so no later one exists.
    if (status.ok()) return end(absl::OkStatus());
    if (!IsFailoverError(status)) return end(status);
    MarkDead(o.address, status);
    ++failovers_;
    CloseStreams();
    if (!failover_deadline_) failover_deadline_ = Clock::now() + opt.failover_timeout;
  }
}

absl::Status FanInReader::Finish() {
  if (!done_) {
    Cancel();
    done_ = true;
    final_ = absl::CancelledError("the stream was cancelled by the client");
    CloseStreams();
  }
  return final_;
}

FanInClient::FanInClient(std::vector<std::string> targets, ClientOptions options, FanInOptions fan_in)
    : targets_(std::move(targets)), options_(std::move(options)), fan_in_(std::move(fan_in)) {}

absl::StatusOr<std::vector<std::string>> FanInClient::Resolve() const {
  if (targets_.empty()) return absl::InvalidArgumentError("no server given");
  return ResolveTargets(targets_, fan_in_.resolver ? fan_in_.resolver : HostResolver(ResolveHostSystem));
}

ImageFeedClient& FanInClient::Server(const std::string& address) {
  MutexLock lock(&mu_);
  std::unique_ptr<ImageFeedClient>& c = clients_[address];
  if (c == nullptr) c = std::make_unique<ImageFeedClient>(address, options_);
  return *c;
}

absl::StatusOr<ImageFeedClient*> FanInClient::First() {
  absl::StatusOr<std::vector<std::string>> resolved = Resolve();
  if (!resolved.ok()) return resolved.status();
  if (resolved->empty()) return absl::InvalidArgumentError("no server given");
  return &Server(resolved->front());
}

std::unique_ptr<FanInReader> FanInClient::StreamBatches(const v1::StreamBatchesRequest& request) {
  return std::unique_ptr<FanInReader>(new FanInReader(this, request));
}

}  // namespace imagefeed
