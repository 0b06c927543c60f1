#ifndef IMAGEFEED_SERVER_DATASET_FILE_LIST_H_
#define IMAGEFEED_SERVER_DATASET_FILE_LIST_H_

// File lists: a CSV/TSV (header with the columns "path" and "label", in any
// order; TSV when the file ends in .tsv or the header has a tab and no
// comma) or JSONL ({"path": ..., "label": ...} per line; detected by a
// first line starting with '{'). Sample id i is the i-th record; blank
// lines are skipped. Paths are relative to the list's folder and may not
// hold ".." (absolute paths only with allow_absolute).
//
// Labels: when every label is an integer (a CSV field of digits, a JSON
// number) they are the labels; otherwise they are class names, sorted (byte
// order, as ImageFolder's folders) to ids. A JSONL list mixing numbers and
// strings is an error.

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "server/dataset/dataset_index.h"

namespace imagefeed {

struct FileListContents {
  std::vector<SampleEntry> samples;  // relative_path as listed, label, size/mtime from stat
  std::vector<std::string> classes;  // empty when the labels are integers
};

// Reads `list_file`, checks every path (and stats it beneath `base_fd`, the
// list's folder, or at its absolute path). Errors name the file and line.
absl::Status ReadFileList(const std::string& list_file, int base_fd, bool allow_absolute, FileListContents* out);

}  // namespace imagefeed

#endif  // IMAGEFEED_SERVER_DATASET_FILE_LIST_H_
