#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "etld/pipeline/spec.h"

namespace etld::pipeline {

// One problem found in an EngineSpec. The daemon's validator maps
// (pipeline, aggregate, attribute, position) back to file:line:column.
struct SpecError {
    std::optional<std::size_t> pipeline;   // index into EngineSpec::pipelines
    std::optional<std::size_t> aggregate;  // index into PipelineSpec::aggregates
    // The config key at fault: "expr", "where", "field", "k", "numerator",
    // "denominator", "name", "fn", "group_by", "window", "allowed_lateness",
    // "schema", "dedup_horizon", ...
    std::string attribute;
    // 0-based character offset into the attribute's string, for expressions.
    std::optional<std::size_t> position;
    std::string message;
};

// An EngineSpec that passed every check, with its expressions compiled.
// Immutable and shared by every Task and Decoder built from it.
class CompiledEngine {
  public:
    struct Impl;
    explicit CompiledEngine(std::unique_ptr<const Impl> impl);
    ~CompiledEngine();
    CompiledEngine(const CompiledEngine&) = delete;
    CompiledEngine& operator=(const CompiledEngine&) = delete;

    const EngineSpec& spec() const;
    const Impl& impl() const { return *impl_; }

  private:
    std::unique_ptr<const Impl> impl_;
};

struct CompileResult {
    std::shared_ptr<const CompiledEngine> engine;  // set iff `errors` is empty
    std::vector<SpecError> errors;
};

// Checks everything about the spec that can be checked without data and
// compiles the expressions once. Never throws for a bad spec.
CompileResult compile(const EngineSpec& spec);

}  // namespace etld::pipeline
