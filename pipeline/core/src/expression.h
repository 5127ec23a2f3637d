#pragma once

// Internal: the expression language of aggregate `expr` and `where` strings.
// Used by compile.cpp and by the unit tests; not part of the public surface.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "etld/pipeline/event.h"
#include "etld/pipeline/spec.h"

namespace etld::pipeline::detail {

enum class ExprType : std::uint8_t { number, string, boolean };
std::string_view name_of(ExprType t);

struct ExprError {
    std::size_t position = 0;  // 0-based character offset into the source
    std::string message;
};

// A compiled expression: a flat tree of nodes with field references resolved
// to schema indices, so evaluation does no lookups by name.
class Expr {
  public:
    enum class Op : std::uint8_t {
        num_lit,
        str_lit,
        bool_lit,
        int_field,
        double_field,
        str_field,
        bool_field,
        neg,
        add,
        sub,
        mul,
        div,
        logical_not,
        logical_and,
        logical_or,
        cmp_num,
        cmp_str,
        cmp_bool,
        in_num,
        in_str,
    };
    enum class Cmp : std::uint8_t { eq, ne, lt, le, gt, ge };

    struct Node {
        Op op = Op::num_lit;
        Cmp cmp = Cmp::eq;
        std::uint32_t a = 0;  // child, field index, or first list item
        std::uint32_t b = 0;  // child, or list length
        double num = 0;
        std::uint32_t str = 0;  // index into strings_ for literals
    };

    ExprType type() const { return type_; }
    double number(const Event& e) const { return num(root_, e); }
    bool predicate(const Event& e) const { return pred(root_, e); }
    std::string_view text(const Event& e) const { return str(root_, e); }

  private:
    friend class ExprParser;
    double num(std::uint32_t n, const Event& e) const;
    bool pred(std::uint32_t n, const Event& e) const;
    std::string_view str(std::uint32_t n, const Event& e) const;

    std::vector<Node> nodes_;
    std::vector<std::string> strings_;
    std::vector<double> numbers_;
    std::uint32_t root_ = 0;
    ExprType type_ = ExprType::number;
};

using ParsedExpr = std::variant<Expr, ExprError>;

// Parses and type-checks `source` against the schema's typed fields.
ParsedExpr parse_expression(std::string_view source, const EventSchema& schema);
// As parse_expression, and requires a number / a predicate at the top.
ParsedExpr compile_numeric(std::string_view source, const EventSchema& schema);
ParsedExpr compile_predicate(std::string_view source, const EventSchema& schema);

// "did you mean" support shared with the spec checks.
std::string suggest(std::string_view name, const std::vector<std::string>& candidates);

}  // namespace etld::pipeline::detail
