// Pieces of the loader shared between load.cpp and load_pipelines.cpp. Internal to conf/.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "conf/config.h"
#include "conf/toml_reader_internal.h"

namespace etld::conf::detail {

/// Names declared in [schema.fields], including those whose type was rejected: a field with a
/// bad type is reported once, not again at every place that uses it.
class FieldNames {
  public:
    void add(std::string_view name) { names_.emplace_back(name); }
    bool contains(std::string_view name) const;
    /// "'x' is not a field of [schema.fields]; did you mean 'y'?"
    std::string not_a_field(std::string_view name) const;

  private:
    std::vector<std::string> names_;
};

/// Reads the [[pipeline]] array of tables under `root`, checking its references to the schema
/// and between aggregates. Problems go to root's Diagnostics.
std::vector<PipelineConfig> read_pipelines(const TableReader& root, const FieldNames& fields);

}  // namespace etld::conf::detail
