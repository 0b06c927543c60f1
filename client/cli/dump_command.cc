// imagefeed dump: writes one batch as a labelled contact sheet PNG, to see
// whether the pipeline produces what it should.
#include <algorithm>
#include <iostream>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "client/cli/cli_common.h"
#include "client/cli/commands.h"
#include "common/contact_sheet.h"
#include "client/cli/stream_flags.h"
#include "client/cli/stream_runner.h"
#include "common/file_util.h"
#include "common/image_encoders.h"

namespace imagefeed {

int RunDump(const Args& args) {
  ConnectionFlags conn;
  std::string out;
  int64_t columns = 0;
  int64_t max_tiles = 256;
  StreamFlags stream;
  FlagSet flags("imagefeed dump",
                "Fetches one batch and writes it as a contact sheet PNG: a grid of tiles, denormalized back to "
                "0..255 (normalize=none and uint8 as is, rescale inverted, other modes stretched per tile), each "
                "labelled with its class name and sample id.");
  conn.Register(&flags);
  flags.AddString("out", &out, "PNG file to write (required)");
  flags.AddInt("columns", &columns, "tiles per row; 0 = about square", 0, 1024);
  flags.AddInt("max_tiles", &max_tiles, "show at most this many samples of the batch", 1, 4096);
  stream.Register(&flags);
  v1::StreamBatchesRequest request;
  std::unique_ptr<FanInClient> fan_in;
  ImageFeedClient* first = nullptr;
  if (int rc = ParseStreamCommand(flags, args, conn, stream, &request, &fan_in, &first); rc >= 0) return rc;
  if (out.empty()) return UsageError(absl::InvalidArgumentError("--out=FILE.png is required"));
  ImageFeedClient& client = *first;
  absl::StatusOr<v1::DatasetInfo> info = FindDataset(client, request.dataset());
  if (!info.ok()) return Fail(info.status());
  v1::Batch batch;
  auto keep = [&](const v1::Batch& b) {
    batch = b;
    return absl::OkStatus();
  };
  absl::StatusOr<StreamTotals> totals = RunStream(*fan_in, request, 1, keep, nullptr);
  if (!totals.ok()) return Fail(totals.status());
  if (totals->batches == 0) {
    return Fail(absl::OutOfRangeError("the stream has no batches (is --start past the end of the rank's share?)"));
  }
  const std::vector<std::string> classes(info->classes().begin(), info->classes().end());
  absl::StatusOr<Image> sheet = MakeContactSheet(batch, classes, DenormalizationFor(request),
                                                 static_cast<int>(columns), static_cast<int>(max_tiles));
  if (!sheet.ok()) return Fail(sheet.status());
  absl::StatusOr<std::string> png = EncodePng(*sheet);
  if (!png.ok()) return Fail(png.status());
  if (absl::Status s = WriteFileAtomically(out, *png); !s.ok()) return Fail(s);
  const int shown = std::min(batch.sample_ids_size(), static_cast<int>(max_tiles));
  std::cout << absl::StrFormat("wrote %s: %dx%d PNG, %d of %d samples (batch at position %d, shape [%s])\n", out,
                               sheet->width, sheet->height, shown, batch.sample_ids_size(), batch.position(),
                               absl::StrJoin(batch.shape(), ","));
  return 0;
}

}  // namespace imagefeed
