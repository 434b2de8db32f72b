#pragma once
// The task check of one raw record (see examples.cpp).
#include <string>

#include "medenc/datasets.h"
#include "trainer/records.h"

namespace medenc {

struct CheckResult {
  std::string reason;   // empty: the record is a good example; else the bad-row category
  std::string message;  // what is wrong, for the report
  bool ok() const { return reason.empty(); }
};

// Fills `ex` from a record for `task`, or says why the row cannot be used. With `fixed`, single-label
// rows with another label are bad and other multi-label labels are dropped (counted).
CheckResult check_record(const Record& r, TaskKind task, const DataOptions& options, const LabelSpace* fixed,
                         Example& ex, int64_t* labels_dropped, int64_t* entities_dropped);

}  // namespace medenc
