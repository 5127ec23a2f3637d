// The bridge from the configuration model (conf) to the engine's own spec
// (pipeline/core), and the engine checks `etld validate` adds on top of the
// loader's: expressions compiled by the engine, with their errors mapped back
// to file:line:column.
#pragma once

#include <string>
#include <vector>

#include "conf/config.h"
#include "conf/load.h"
#include "etld/pipeline/compile.h"
#include "etld/pipeline/spec.h"

namespace etld::daemon {

pipeline::EngineSpec to_engine_spec(const conf::Config& config);

// Compiles the engine for `config`. On failure, the errors point into `file`.
struct EngineBuild {
    std::shared_ptr<const pipeline::CompiledEngine> engine;
    std::vector<conf::ConfigError> errors;
};
EngineBuild build_engine(const conf::Config& config, const std::string& file);

}  // namespace etld::daemon
