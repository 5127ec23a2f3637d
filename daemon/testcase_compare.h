// Comparing what a case expects with what the engine produced, and writing
// what it produced as expectations (`etld test --record`).
//
// Matching: every expectation must be met by a different actual record of its
// kind whose fields include every field the expectation gives, equal (numbers
// within the tolerance); the pairing is a maximum matching, so the order of
// lines does not matter and a partial expectation cannot steal the record a
// more precise one needs. Every actual record no expectation met is
// unexpected, and fails the case unless "ignore_unexpected" covers it.
#pragma once

#include <string>
#include <vector>

#include "daemon/testcase_file.h"
#include "etld/pipeline/spec.h"

namespace etld::daemon::testcase {

// Equality of an expected and an actual value. Two integers compare exactly;
// otherwise numbers are equal when |actual - expected| <= tolerance *
// max(1, |expected|). Arrays compare element by element.
bool values_equal(const Json& expected, const Json& actual, double tolerance);

struct CaseOutcome {
    bool passed = false;
    // For a failure: what went wrong, one block per problem, with the
    // expected and actual records side by side and the differing fields
    // marked '!'. Empty when the case passed.
    std::string report;
};

CaseOutcome compare(const CaseFile& file, const std::vector<Record>& actual);

// The expectation line that `actual` would meet exactly.
std::string expectation_line(const Record& actual);

// The case file with its expectation lines replaced by the actual records
// (the other lines are kept as they are), sorted by kind, pipeline (in
// configuration order), window and group.
std::string recorded_case(const CaseFile& file, const std::vector<Record>& actual,
                          const pipeline::EngineSpec& spec);

}  // namespace etld::daemon::testcase
