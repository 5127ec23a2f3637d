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
    // Indices into CompiledFeatures (-1: none): the where-predicate, the
    // numeric expression, the count_distinct / top_k field.
    std::int32_t where_feature = -1;
    std::int32_t expr_feature = -1;
    std::int32_t value_feature = -1;
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
    // Index into CompiledFeatures::groups of this pipeline's group_by list.
    std::uint32_t group_feature = 0;
    // Index of this pipeline's Contribution in EventFeatures: pipelines whose
    // aggregates are alike (same functions, features and slots, names aside)
    // contribute the same steps and share one.
    std::uint32_t contribution = 0;
    // Identifies the pipeline definition in changelog records, so state of
    // an edited pipeline is not restored into the new definition.
    std::uint64_t fingerprint = 0;
};

// What the engine computes from each event before any pipeline sees it:
// every distinct where-predicate, numeric expression, value field and
// group_by list of all pipelines, once each (pipelines often share them: the
// same predicates and fields over different windows). Evaluated lazily per
// event by EventFeatures (event_features.h).
struct CompiledFeatures {
    struct Value {
        std::uint32_t field = 0;
        FieldType type = FieldType::string;
    };
    struct Group {
        std::vector<std::uint32_t> fields;
        std::vector<FieldType> types;
    };
    std::vector<Expr> predicates;
    std::vector<Expr> numbers;
    std::vector<Value> values;
    std::vector<Group> groups;
    std::uint32_t contributions = 0;
};

}  // namespace etld::pipeline::detail

namespace etld::pipeline {

struct CompiledEngine::Impl {
    EngineSpec spec;
    std::vector<detail::CompiledPipeline> pipelines;
    detail::CompiledFeatures features;
};

}  // namespace etld::pipeline
