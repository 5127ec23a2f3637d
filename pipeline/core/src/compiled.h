#pragma once

// Internal: the compiled form of an EngineSpec, shared by Task and tests.

#include <cstdint>
#include <optional>
#include <vector>

#include "etld/pipeline/compile.h"
#include "expression.h"

namespace etld::pipeline::detail {

struct CompiledAggregate {
    AggregateFn fn = AggregateFn::count;
    std::optional<Expr> where;
    std::optional<Expr> expr;
    std::uint32_t field = 0;  // count_distinct, top_k: schema field index
    FieldType field_type = FieldType::string;
    std::uint32_t k = 0;
    std::uint32_t numerator = 0;  // ratio: aggregate indices
    std::uint32_t denominator = 0;
    // count/sum/avg/min/max: index of its numeric cell; count_distinct: index
    // of its distinct set; top_k: index of its counts map.
    std::uint32_t slot = 0;
};

struct CompiledPipeline {
    std::uint32_t index = 0;  // in EngineSpec::pipelines
    PipelineSpec spec;
    std::vector<std::uint32_t> group_fields;
    std::vector<FieldType> group_types;
    std::vector<CompiledAggregate> aggregates;
    std::uint32_t cells = 0;
    std::uint32_t distinct_sets = 0;
    std::uint32_t topk_maps = 0;
    // Identifies the pipeline definition in changelog records, so state of
    // an edited pipeline is not restored into the new definition.
    std::uint64_t fingerprint = 0;
};

}  // namespace etld::pipeline::detail

namespace etld::pipeline {

struct CompiledEngine::Impl {
    EngineSpec spec;
    std::vector<detail::CompiledPipeline> pipelines;
};

}  // namespace etld::pipeline
